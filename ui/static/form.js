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

function pluginKnobs() {
  return {
    sampler: { name: $("sampler").value, options: readOptions($("sampler-options")) },
    mergeSteps: $("merge-steps").value === "" ? undefined : Number($("merge-steps").value),
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
  $("merge-steps").value = String(recipe.mergeSteps ?? 0);
  $("budget").value = recipe.budget ?? "";
  fillPluginSelect(plugins, "sampler", recipe.sampler);
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
  for (const key of ["sampler", "mergeSteps", "scheduler"]) {
    if (JSON.stringify(knobs[key]) === JSON.stringify(base[key])) continue;
    if (knobs[key]?.name === MODULE) continue;
    body[key] = knobs[key];
  }
  return body;
}
