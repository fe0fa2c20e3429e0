import assert from "node:assert/strict";
import { join } from "node:path";
import { clipPsnr, clipSsim } from "./fidelity.ts";
import { contactSheet, sheetColumns } from "./contact_sheet.ts";
import { EvalError } from "./prompt_file.ts";
import { findWorldFile, parseWorld, slowestDisplacement } from "./world.ts";

const ROOT = join(import.meta.dirname!, "..");

Deno.test("slowestDisplacement() takes a same-length clip's travel, else the slowest speed times the span", () => {
  const world = parseWorld(
    JSON.stringify({
      schema: "odsora.world/1",
      clips: [
        { frames: 34, height: 64, width: 64, travel_min_px: 24.75, travel_max_px: 38 },
        { frames: 17, height: 48, width: 64, travel_min_px: 12, travel_max_px: 18.4 },
        { frames: 1, height: 64, width: 64, travel_min_px: null, travel_max_px: null },
      ],
    }),
    "w.json",
  );
  assert.equal(slowestDisplacement(world, 34), 24.75);
  assert.equal(slowestDisplacement(world, 17), 12);
  assert.equal(slowestDisplacement(world, 9), 0.75 * 8);
  assert.equal(slowestDisplacement(world, 1), 0);
});

Deno.test("parseWorld() refuses a file without the schema or without clip sizes", () => {
  assert.throws(
    () => parseWorld("{", "w.json"),
    new EvalError("Cannot read world file 'w.json': it is not JSON"),
  );
  assert.throws(
    () => parseWorld('{"schema": "x", "clips": []}', "w.json"),
    /schema is not 'odsora.world\/1'/,
  );
  assert.throws(
    () => parseWorld('{"schema": "odsora.world/1", "clips": [{"frames": 17, "travel_min_px": 0}]}', "w.json"),
    /'clips' must list clip sizes/,
  );
  const images = parseWorld('{"schema": "odsora.world/1", "clips": [{"frames": 1}]}', "w.json");
  assert.throws(() => slowestDisplacement(images, 17), /lists no moving clip size/);
});

Deno.test("findWorldFile() prefers the prompt file's folder, then the bundle, and says how to write one", () => {
  assert.equal(findWorldFile("x.json", "eval/prompts.jsonl", "/nowhere"), "x.json");
  assert.equal(
    findWorldFile(undefined, "eval/prompts.jsonl", join(ROOT, "models", "default")),
    join(ROOT, "models", "default", "world.json"),
  );
  assert.throws(() => findWorldFile(undefined, "/nowhere/p.jsonl", "/nowhere/b"), /export.world.world_json/);
});

Deno.test("clipSsim() and clipPsnr() are 1 / the cap for a clip with itself and fall when it changes", () => {
  const a = {
    width: 16,
    height: 16,
    count: 2,
    data: new Uint8Array(2 * 16 * 16 * 3).map((_, i) => (i * 37) % 251),
  };
  const b = { ...a, data: a.data.map((v, i) => (i % 7 ? v : 255 - v)) };
  assert.equal(clipSsim(a, a), 1);
  assert.equal(clipPsnr(a, a), 100);
  assert.ok(clipSsim(a, b) < 0.9);
  assert.ok(clipPsnr(a, b) < 20);
  assert.throws(() => clipSsim(a, { ...a, count: 1 }), /Cannot compare clips/);
});

Deno.test("contactSheet() tiles each row's frames with gaps, nearest-neighbour scaled", () => {
  assert.deepEqual(sheetColumns(17, 2), [0, 2, 4, 6, 8, 10, 12, 14, 16]);
  assert.deepEqual(sheetColumns(34, 4), [0, 4, 8, 12, 16, 20, 24, 28, 32, 33]);
  const clip = {
    width: 2,
    height: 1,
    count: 2,
    data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  };
  const sheet = contactSheet([clip], 1, 2);
  assert.equal(sheet.width, 2 + 2 * (4 + 2));
  assert.equal(sheet.height, 2 + 2 + 2);
  const px = (x: number, y: number) =>
    Array.from(sheet.rgb.subarray((y * sheet.width + x) * 3, (y * sheet.width + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [255, 0, 255]);
  assert.deepEqual(px(2, 2), [1, 2, 3]);
  assert.deepEqual(px(3, 3), [1, 2, 3]);
  assert.deepEqual(px(4, 2), [4, 5, 6]);
  assert.deepEqual(px(8, 2), [7, 8, 9]);
  assert.throws(() => contactSheet([clip, { ...clip, count: 1 }], 1, 1), /same frame count/);
});
