// The page: the form (recipe, prompt, knobs), Generate/Cancel, the event stream, the result and its charts.
import { cosineChart, memoryChart, stageChart, timelineChart } from "./charts.js";
import { createLive } from "./live.js";

const $ = (id) => document.getElementById(id);
const live = createLive();
let recipes = [];
let plugins = { sampler: [], scheduler: [] };
let current = null; // { id, source, events }

function setStatus(state, text = state) {
  $("status").dataset.state = state;
  $("status").textContent = text;
  document.body.dataset.state = state;
  const running = state === "running" || state === "starting";
  $("generate").disabled = running;
  $("cancel").disabled = state !== "running";
}

async function api(path, init) {
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

/** Inputs for a plugin's options, from the JSON schema of its zod options. */
function renderOptions(container, schema, values) {
  const nodes = [];
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    const label = document.createElement("label");
    label.title = prop.description ?? "";
    let input;
    if (prop.enum) {
      input = document.createElement("select");
      for (const option of prop.enum) input.append(new Option(String(option), String(option)));
    } else {
      input = document.createElement("input");
      input.type = prop.type === "boolean" ? "checkbox" : prop.type === "string" ? "text" : "number";
      if (prop.type === "integer") input.step = "1";
      if (prop.type === "number") input.step = "any";
      if (prop.minimum !== undefined) input.min = String(prop.minimum);
      if (prop.maximum !== undefined) input.max = String(prop.maximum);
    }
    input.dataset.key = key;
    input.dataset.type = prop.type ?? (prop.enum ? typeof prop.enum[0] : "string");
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
    } else out[input.dataset.key] = input.value;
  }
  return out;
}

const MODULE = "(module)";
let baseline = ""; // the form's plugin knobs right after a recipe was applied

function fillPluginSelect(kind, choice) {
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

function applyRecipe(name) {
  const recipe = recipes.find((r) => r.name === name);
  if (!recipe) return;
  $("prompt").value = recipe.prompt ?? "";
  $("seed").value = String(recipe.seed);
  $("steps").value = String(recipe.steps);
  $("merge-steps").value = String(recipe.mergeSteps ?? 0);
  $("budget").value = recipe.budget ?? "";
  fillPluginSelect("sampler", recipe.sampler);
  fillPluginSelect("scheduler", recipe.scheduler);
  baseline = JSON.stringify(pluginKnobs());
}

/** The request: prompt, seed and steps always; plugin knobs only where the user changed the recipe's. */
function requestBody() {
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

let shown = null; // the last result, redrawn when the window is resized

function showResult(run, events, status) {
  shown = { run, events, status };
  const files = run.files ?? {};
  // a run that failed before any block ran has nothing to draw
  $("result").hidden = !files["video.mp4"] && !events.some((e) => e.type === "block");
  $("media").hidden = !files["video.mp4"];
  const video = $("video");
  if (files["video.mp4"]) video.src = `${files["video.mp4"]}?t=${Date.now()}`;
  else video.removeAttribute("src");
  $("gif-link").hidden = !files["video.gif"];
  if (files["video.gif"]) $("gif-link").href = files["video.gif"];
  $("report-link").hidden = !files["report.json"];
  if (files["report.json"]) $("report-link").href = files["report.json"];
  if (status !== "done") {
    for (const li of $("stages").children) if (li.dataset.state === "active") li.dataset.state = "failed";
  }
  if (!$("result").hidden) drawCharts(events);
  document.body.dataset.result = status;
}

function drawCharts(events) {
  const width = (id) => Math.max(320, Math.round($(id).clientWidth || 640));
  const timeline = timelineChart(events, width("timeline-chart"));
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = timeline.note;
  $("timeline-chart").replaceChildren(timeline.chart, note);
  const memory = memoryChart(events, width("memory-chart"));
  $("memory-chart").replaceChildren(...(memory ? [memory] : []));
  $("cosine-figure").hidden = false;
  const cosine = cosineChart(events, width("cosine-chart"));
  $("cosine-figure").hidden = !cosine;
  $("cosine-chart").replaceChildren(...(cosine ? [cosine] : []));
  const stages = stageChart(events, width("stage-chart"));
  $("stage-chart").replaceChildren(...(stages ? [stages] : []));
}

function follow(id) {
  const events = [];
  const source = new EventSource(`/api/runs/${id}/events`);
  current = { id, source, events };
  source.addEventListener("run-event", (message) => {
    const event = JSON.parse(message.data);
    events.push(event);
    live.handle(event);
  });
  source.addEventListener("warning", (message) => {
    const li = document.createElement("li");
    li.textContent = JSON.parse(message.data).message;
    $("warnings").append(li);
  });
  source.addEventListener("end", async (message) => {
    source.close();
    const end = JSON.parse(message.data);
    setStatus(end.status);
    if (end.message) $("message").textContent = end.message;
    const run = await api(`/api/runs/${id}`).catch(() => ({}));
    showResult(run, events, end.status);
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) setStatus("error", "disconnected");
  };
}

async function generate(submit) {
  submit.preventDefault();
  $("message").textContent = "";
  $("result").hidden = true;
  $("warnings").replaceChildren();
  delete document.body.dataset.result;
  live.reset();
  setStatus("starting", "starting");
  try {
    const { id } = await api("/api/runs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(requestBody()),
    });
    setStatus("running");
    follow(id);
  } catch (error) {
    setStatus("idle");
    $("message").textContent = error.message;
  }
}

async function cancel() {
  if (!current) return;
  $("cancel").disabled = true;
  try {
    await api(`/api/runs/${current.id}/cancel`, { method: "POST" });
    $("status").textContent = "cancelling";
  } catch (error) {
    $("message").textContent = error.message;
  }
}

async function init() {
  setStatus("idle");
  try {
    [recipes, plugins] = await Promise.all([api("/api/recipes"), api("/api/plugins")]);
  } catch (error) {
    $("message").textContent = `Cannot load recipes: ${error.message}`;
    return;
  }
  $("recipe").replaceChildren(...recipes.map((r) => new Option(r.name, r.name)));
  const preferred = recipes.find((r) => r.name === "default") ?? recipes[0];
  if (preferred) {
    $("recipe").value = preferred.name;
    applyRecipe(preferred.name);
  }
  $("recipe").addEventListener("change", () => applyRecipe($("recipe").value));
  for (const kind of ["sampler", "scheduler"]) {
    $(kind).addEventListener(
      "change",
      () => fillPluginSelect(kind, { name: $(kind).value, module: null, options: {} }),
    );
  }
  $("form").addEventListener("submit", generate);
  let resizing = 0;
  addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => shown && drawCharts(shown.events), 150);
  });
  $("cancel").addEventListener("click", cancel);
  document.body.dataset.ready = "true";
}

init();
