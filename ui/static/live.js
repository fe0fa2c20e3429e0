// The live progress panel: stage chips, step bar, block, ETA, memory, loaded blocks, preview, decisions.
import { formatBytes, formatMs } from "./svg.js";

const $ = (id) => document.getElementById(id);

/** The panel's state and its update function for one run. */
export function createLive() {
  let loaded = new Map(); // stage -> { count, names: Map<index, name>, loaded: Set<index> }
  let received = 0;

  function reset() {
    loaded = new Map();
    received = 0;
    document.body.dataset.events = "0";
    document.body.dataset.previews = "0";
    for (const li of $("stages").children) delete li.dataset.state;
    $("step-bar").style.width = "0";
    for (const id of ["step", "block", "eta", "memory"]) $(id).textContent = "–";
    $("resident").replaceChildren();
    $("preview").hidden = true;
    $("preview-caption").textContent = "The preview appears after the first denoising step.";
    $("decisions").replaceChildren();
    $("decisions-sampler").textContent = "";
  }

  function drawResident() {
    const nodes = [];
    for (const [stage, info] of loaded) {
      const label = document.createElement("b");
      label.textContent = stage;
      nodes.push(label);
      for (let i = 0; i < info.count; i++) {
        const cell = document.createElement("span");
        cell.title = `${stage}/${info.names.get(i) ?? i}${info.loaded.has(i) ? " (loaded)" : ""}`;
        if (info.loaded.has(i)) cell.dataset.loaded = "";
        if (info.running === i) cell.dataset.running = "";
        nodes.push(cell);
      }
    }
    $("resident").replaceChildren(...nodes);
  }

  function handle(event) {
    received++;
    document.body.dataset.events = String(received);
    switch (event.type) {
      case "stage": {
        const li = $("stages").querySelector(`[data-stage="${event.stage}"]`);
        if (li) li.dataset.state = event.status === "start" ? "active" : "done";
        if (event.stage === "denoiser" && event.status === "end") $("step-bar").style.width = "100%";
        break;
      }
      case "step":
        $("step").textContent = `${event.step + 1} / ${event.total} (t = ${event.t.toFixed(1)})`;
        $("eta").textContent = event.etaMs === null ? "–" : formatMs(event.etaMs);
        $("step-bar").style.width = `${(100 * (event.step + 1)) / event.total}%`;
        break;
      case "block": {
        const info = loaded.get(event.stage) ??
          { count: event.count, names: new Map(), loaded: new Set(), running: null };
        loaded.set(event.stage, info);
        info.count = event.count;
        info.names.set(event.index, event.block);
        if (event.op === "load") info.loaded.add(event.index);
        if (event.op === "unload") info.loaded.delete(event.index);
        if (event.op === "run") {
          info.running = event.index;
          $("block").textContent = `${event.stage}/${event.block} (${event.index + 1} / ${event.count})`;
        }
        drawResident();
        break;
      }
      case "memory": {
        const budget = event.budgetBytes === null ? "no budget" : `budget ${formatBytes(event.budgetBytes)}`;
        $("memory").textContent = `RSS ${formatBytes(event.rssBytes)} · resident ${
          formatBytes(event.residentBytes)
        } · ${budget}`;
        break;
      }
      case "preview": {
        const img = $("preview");
        img.src = `data:image/png;base64,${event.png}`;
        img.hidden = false;
        document.body.dataset.previews = String(Number(document.body.dataset.previews) + 1);
        $("preview-caption").textContent =
          `Predicted clean frame at step ${event.step} (x + v·t/1000), ${event.width}×${event.height}, linear latent → RGB`;
        break;
      }
      case "cache": {
        if (!event.reused) break;
        const li = document.createElement("li");
        li.textContent = `step ${event.step}: reused (${event.reason})`;
        li.className = "reused";
        $("decisions").append(li);
        $("decisions").scrollTop = $("decisions").scrollHeight;
        break;
      }
      case "decision": {
        const li = document.createElement("li");
        const values = Object.entries(event.data ?? {})
          .map(([k, v]) => `${k} = ${typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(6) : v}`);
        li.textContent = event.message;
        $("decisions-sampler").textContent = `· ${event.sampler}`;
        li.title = `step ${event.step}${values.length ? `: ${values.join(", ")}` : ""}`;
        if (event.data?.leap === true) li.className = "leap";
        $("decisions").append(li);
        $("decisions").scrollTop = $("decisions").scrollHeight;
        break;
      }
      case "error":
        $("message").textContent = event.message;
        break;
    }
  }

  return { reset, handle };
}
