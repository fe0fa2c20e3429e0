// After a run: the video, the GIF and report links, and the run drawn as pictures.
import { decisionChart, memoryChart } from "./line_charts.js";
import { stageChart, timelineChart } from "./timeline_chart.js";

const $ = (id) => document.getElementById(id);

export function showResult(run, events, status) {
  const files = run.files ?? {};
  // a run that failed before any block ran has nothing to draw
  $("result").hidden = !files["video.mp4"] && !events.some((e) => e.type === "block");
  $("media").hidden = !files["video.mp4"];
  const video = $("video");
  if (files["video.mp4"]) {
    video.src = `${files["video.mp4"]}?t=${Date.now()}`;
    video.play().catch(() => {}); // muted, so browsers allow it; the controls remain if they do not
  } else video.removeAttribute("src");
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

export function drawCharts(events) {
  const width = (id) => Math.max(320, Math.round($(id).clientWidth || 640));
  const timeline = timelineChart(events, width("timeline-chart"));
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = timeline.note;
  $("timeline-chart").replaceChildren(timeline.chart, note);
  const memory = memoryChart(events, width("memory-chart"));
  $("memory-chart").replaceChildren(...(memory ? [memory] : []));
  $("decision-figure").hidden = false;
  const decisions = decisionChart(events, width("decision-chart"));
  $("decision-figure").hidden = !decisions;
  $("decision-chart").replaceChildren(...(decisions ? [decisions] : []));
  const stages = stageChart(events, width("stage-chart"));
  $("stage-chart").replaceChildren(...(stages ? [stages] : []));
}
