// The form: recipe defaults into the inputs, plugin options rendered from their JSON schemas, and the
// request body (plugin knobs only where the user changed the recipe's).

const $ = (id) => document.getElementById(id);

/** Inputs for a plugin's options, from the JSON schema of its zod options. */
function renderOptions(container, schema, values) {
  const nodes = [];
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    const label = document.createElement("label");
    label.title = prop.description ?? "";
    let input;
    if (prop.enum) {
      input = document.createElement("select");
      // an option without a default may stay unset (the plugin or its preset decides)
      if (prop.default === undefined) input.append(new Option("–", ""));
      for (const option of prop.enum) input.append(new Option(String(option), String(option)));
    } else {
      input = document.createElement("input");
      input.type = prop.type === "boolean"
        ? "checkbox"
        : prop.type === "integer" || prop.type === "number"
        ? "number"
        : "text";
      if (prop.type === "integer") input.step = "1";
      if (prop.type === "number") input.step = "any";
      if (prop.minimum !== undefined) input.min = String(prop.minimum);
      if (prop.maximum !== undefined) input.max = String(prop.maximum);
    }
    input.dataset.key = key;
    // a union (e.g. minSteps: a count or "50%") takes a number when the text is one
    input.dataset.type = prop.type ?? (prop.enum ? typeof prop.enum[0] : prop.anyOf ? "any" : "string");
    const value = values?.[key] ?? prop.default;
    if (input.type === "checkbox") input.checked = value === true;
    else if (value !== undefined) input.value = String(value);
    label.append(key, input);
    nodes.push(label);
  }
  container.replaceChildren(...nodes);
}

function readOptions(container) {
  const out = {};
  for (const input of container.querySelectorAll("[data-key]")) {
    if (input.type === "checkbox") out[input.dataset.key] = input.checked;
    else if (input.value === "") continue;
    else if (input.dataset.type === "number" || input.dataset.type === "integer") {
      out[input.dataset.key] = Number(input.value);
    } else if (
      input.dataset.type === "any" && input.value.trim() !== "" && Number.isFinite(Number(input.value))
    ) {
      out[input.dataset.key] = Number(input.value);
    } else out[input.dataset.key] = input.value;
  }
  return out;
}

const MODULE = "(module)";
let baseline = ""; // the form's plugin knobs right after a recipe was applied

export function fillPluginSelect(plugins, kind, choice) {
  const select = $(kind);
  const options = plugins[kind].map((p) => new Option(p.name, p.name));
  if (choice.module) options.unshift(new Option(`module ${choice.module}`, MODULE));
  select.replaceChildren(...options);
  select.value = choice.module ? MODULE : choice.name;
  const schema = plugins[kind].find((p) => p.name === choice.name)?.options;
  renderOptions($(`${kind}-options`), choice.module ? null : schema, choice.options);
}

/** One row per built-in token op: a box to use it and its options, rendered from its JSON schema. */
function fillTokenOps(plugins, chosen) {
  const rows = (plugins["token-op"] ?? []).map((plugin) => {
    const mine = chosen.find((c) => c.name === plugin.name);
    const use = document.createElement("input");
    use.type = "checkbox";
    use.dataset.use = plugin.name;
    use.checked = mine !== undefined;
    const label = document.createElement("label");
    label.append(use, plugin.name);
    const options = document.createElement("div");
    options.className = "options";
    renderOptions(options, plugin.options, mine?.options);
    const row = document.createElement("div");
    row.className = "token-op";
    row.append(label, options);
    return row;
  });
  $("token-ops").replaceChildren(...rows);
}

/** The token ops in use, in the list's order, with their options. */
function readTokenOps() {
  return [...$("token-ops").querySelectorAll(".token-op")]
    .map((row) => ({ use: row.querySelector("[data-use]"), options: row.querySelector(".options") }))
    .filter(({ use }) => use.checked)
    .map(({ use, options }) => ({ name: use.dataset.use, options: readOptions(options) }));
}

function pluginKnobs() {
  return {
    sampler: { name: $("sampler").value, options: readOptions($("sampler-options")) },
    tokenOps: readTokenOps(),
    scheduler: {
      name: $("scheduler").value,
      options: readOptions($("scheduler-options")),
      budget: $("budget").value.trim() === "" ? null : $("budget").value.trim(),
    },
  };
}

export function applyRecipe(recipe, plugins) {
  $("prompt").value = recipe.prompt ?? "";
  $("seed").value = String(recipe.seed);
  $("steps").value = String(recipe.steps);
  $("budget").value = recipe.budget ?? "";
  fillPluginSelect(plugins, "sampler", recipe.sampler);
  fillTokenOps(plugins, recipe.tokenOps ?? []);
  fillPluginSelect(plugins, "scheduler", recipe.scheduler);
  baseline = JSON.stringify(pluginKnobs());
}

/** The request: prompt, seed and steps always; plugin knobs only where the user changed the recipe's. */
export function requestBody() {
  const number = (id) => ($(id).value === "" ? undefined : Number($(id).value));
  const body = {
    recipe: $("recipe").value,
    prompt: $("prompt").value,
    seed: number("seed"),
    steps: number("steps"),
  };
  const knobs = pluginKnobs();
  const base = JSON.parse(baseline || "{}");
  for (const key of ["sampler", "tokenOps", "scheduler"]) {
    if (JSON.stringify(knobs[key]) === JSON.stringify(base[key])) continue;
    if (knobs[key]?.name === MODULE) continue;
    body[key] = knobs[key];
  }
  return body;
}
