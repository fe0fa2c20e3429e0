/** Test helper: read a Server-Sent Events response of the preview UI to its `end` message. */
export interface SseRun {
  events: Record<string, unknown>[];
  warnings: string[];
  end: { status: string; message: string | null } | null;
}

/** Reads `response`'s SSE stream (run events, warnings, end) until `end` or the stream closes. */
export async function readSse(
  response: Response,
  onEvent: (event: Record<string, unknown>) => void = () => {},
): Promise<SseRun> {
  const out: SseRun = { events: [], warnings: [], end: null };
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (out.end === null) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = block.match(/^event: (.*)$/m)?.[1];
      const data = JSON.parse(
        block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n"),
      );
      if (event === "run-event") {
        out.events.push(data);
        onEvent(data);
      } else if (event === "warning") out.warnings.push(data.message);
      else if (event === "end") out.end = data;
    }
  }
  await reader.cancel();
  return out;
}
