/**
 * A file response with the one HTTP feature a `<video>` element needs: single byte ranges (206).
 *
 * @module
 */

/** Content types of the files the UI serves. */
export const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".mp4": "video/mp4",
  ".gif": "image/gif",
  ".json": "application/json; charset=utf-8",
};

/**
 * A `Response` with the bytes of `path` (already checked by the caller), honouring a `Range: bytes=a-b`
 * header; `download` names the file for a save dialog.
 *
 * @example
 * ```ts
 * const response = await fileResponse("ui/static/index.html", { range: null });
 * ```
 */
export async function fileResponse(
  path: string,
  options: { range: string | null; download?: string },
): Promise<Response> {
  const bytes = await Deno.readFile(path);
  const extension = path.slice(path.lastIndexOf("."));
  const headers = new Headers({
    "content-type": CONTENT_TYPES[extension] ?? "application/octet-stream",
    "accept-ranges": "bytes",
    "cache-control": "no-cache",
  });
  if (options.download) headers.set("content-disposition", `attachment; filename="${options.download}"`);
  const match = options.range?.match(/^bytes=(\d*)-(\d*)$/);
  if (!match || (match[1] === "" && match[2] === "")) return new Response(bytes, { headers });
  let start = match[1] === "" ? bytes.length - Number(match[2]) : Number(match[1]);
  let end = match[1] === "" || match[2] === "" ? bytes.length - 1 : Number(match[2]);
  start = Math.max(0, start);
  end = Math.min(end, bytes.length - 1);
  if (start > end) {
    headers.set("content-range", `bytes */${bytes.length}`);
    return new Response(null, { status: 416, headers });
  }
  headers.set("content-range", `bytes ${start}-${end}/${bytes.length}`);
  return new Response(bytes.subarray(start, end + 1), { status: 206, headers });
}
