import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openPending, OutputError, sampleStem, writePendingJson, writePendingVideos } from "./outputs.ts";

const video = (n: number) => ({
  dtype: "float32" as const,
  dims: [n, 3, 2, 8, 8],
  data: new Float32Array(n * 3 * 2 * 8 * 8).map((_, i) => Math.sin(i)),
});

Deno.test("openPending() + commit() moves staged files into place, replacing older ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "v_frames"));
    await Deno.writeTextFile(join(dir, "v_frames", "stale.png"), "old");
    const pending = await openPending(dir);
    const paths = await writePendingVideos(pending, video(1), { name: "v", formats: ["mp4", "png"], fps: 4 });
    await writePendingJson(pending, "v.json", { ok: true });
    assert.deepEqual(paths, [{ mp4: join(dir, "v.mp4"), png: join(dir, "v_frames") }]);
    assert.ok(!existsSync(join(dir, "v.mp4")), "nothing visible before commit");
    await pending.commit();
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["v.json", "v.mp4", "v_frames"]);
    assert.deepEqual([...Deno.readDirSync(join(dir, "v_frames"))].map((e) => e.name).sort(), [
      "frame_0000.png",
      "frame_0001.png",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("discard() leaves nothing, not even an output folder the run created", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "new", "out");
    const pending = await openPending(out);
    await writePendingVideos(pending, video(2), { name: "s", formats: ["gif"], fps: 4 });
    assert.deepEqual(pending.names, ["s_0000.gif", "s_0001.gif"]);
    await pending.discard();
    assert.ok(!existsSync(out));
    await Deno.writeTextFile(join(dir, "file"), "x");
    await assert.rejects(() => openPending(join(dir, "file", "out")), OutputError, "is not writable");
    assert.equal(sampleStem("a", 3, 10), "a_0003");
    assert.equal(sampleStem("a", 0, 1), "a");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
