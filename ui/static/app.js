// The page: the form (recipe, prompt, knobs), Generate/Cancel, the event stream, the result and its charts.
import { applyRecipe, fillPluginSelect, requestBody } from "./form.js";
import { createLive } from "./live.js";
import { drawCharts, showResult } from "./result.js";

const $ = (id) => document.getElementById(id);
const live = createLive();
let recipes = [];
let plugins = { sampler: [], scheduler: [] };
let current = null; // { id, source, events }
let shown = null; // the last result, redrawn when the window is resized

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

/** Follows run `id`'s events; `attached`: a run started elsewhere, whose prompt and steps the form shows. */
function follow(id, attached = false) {
  const events = [];
  const source = new EventSource(`/api/runs/${id}/events`);
  current = { id, source, events };
  source.addEventListener("run-event", (message) => {
    const event = JSON.parse(message.data);
    events.push(event);
    live.handle(event);
    if (attached && event.type === "run") $("prompt").value = event.prompt;
    if (attached && event.type === "step") $("steps").value = String(event.total);
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
    $("eta").textContent = "–";
    if (end.message) $("message").textContent = end.message;
    const run = await api(`/api/runs/${id}`).catch(() => ({}));
    shown = { events };
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
    applyRecipe(preferred, plugins);
  }
  $("recipe").addEventListener(
    "change",
    () => applyRecipe(recipes.find((r) => r.name === $("recipe").value), plugins),
  );
  for (const kind of ["sampler", "scheduler"]) {
    $(kind).addEventListener(
      "change",
      () => fillPluginSelect(plugins, kind, { name: $(kind).value, module: null, options: {} }),
    );
  }
  // a run already going (another tab, a reload) is followed rather than refused
  const runs = await api("/api/runs").catch(() => []);
  const running = runs.find((run) => run.status === "running");
  if (running) {
    setStatus("running");
    follow(running.id, true);
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
