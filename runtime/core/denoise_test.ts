import assert from "node:assert/strict";
import { composeOperators, denoise } from "./denoise.ts";
import { PluginError, StageError } from "./errors.ts";
import { local } from "../local/executor_local.ts";
import { openStage } from "./stage.ts";
import { fromArray, relL2, slice, zeros } from "./tensor.ts";
import type { RunEvent, Tensor, TokenOp } from "./types.ts";
import { euler } from "../../samplers/euler.ts";
import { rflowTimesteps } from "./timesteps.ts";
import { resident } from "../../schedulers/mod.ts";
import { loadToy } from "../../tests/_toy.ts";
import { instantiate } from "./registry.ts";

const f32 = (t: Tensor) => t as Tensor<"float32">;
const pairOp = (merge: Tensor, unmerge: Tensor, until: number): TokenOp => ({
  name: "pairs",
  kind: "token-op",
  operators: (s) => (s.step < until ? { merge: f32(merge), unmerge: f32(unmerge) } : null),
});

Deno.test("denoise() runs CFG Euler on a real padded bundle and matches the torch loop", async () => {
  const { bundle, expected } = await loadToy();
  const exec = local.create({ threads: 1, arena: false, trim: true });
  // the toy reference's schedule: 4 steps at 40×48 px, 17 frames
  const timesteps = rflowTimesteps({ steps: 4, height: 40, width: 48, frames: 17 });
  assert.deepEqual(timesteps, [...expected.timesteps.data]);
  try {
    for (
      const [label, tokenOps] of [["z_final", []], ["z_final_merged", [
        pairOp(expected.merge0, expected.unmerge0, 1),
      ]]] as const
    ) {
      const events: RunEvent[] = [];
      const runner = await openStage({
        bundle,
        stage: "denoiser",
        executor: exec,
        scheduler: instantiate(resident),
        budget: { bytes: null },
        passes: 4,
        emit: () => {},
      });
      const { latent, calls } = await denoise({
        bundle,
        runner,
        sampler: instantiate(euler),
        tokenOps,
        noise: f32(expected.z),
        y: f32(expected.y),
        yMask: expected.y_mask,
        yNull: f32(expected.y_null),
        cfgScale: 7,
        timesteps,
        fps: 24,
        height: 40,
        width: 48,
        emit: (e) => events.push(e),
      });
      await runner.close();
      assert.equal(calls, 4);
      assert.deepEqual(latent.dims, expected.z.dims);
      const err = relL2(latent, expected[label]);
      assert.ok(err < 1e-5, `${label} rel_err=${err}`);
      const steps = events.filter((e) => e.type === "step");
      assert.deepEqual(steps.map((e) => e.type === "step" && [e.step, e.total, e.calls]), [
        [0, 4, 1],
        [1, 4, 2],
        [2, 4, 3],
        [3, 4, 4],
      ]);
    }
    assert.ok(relL2(expected.z_final, expected.z_final_merged) > 1e-3, "merging changes the result");
  } finally {
    await exec.close();
  }
});

Deno.test("composeOperators() is identity without ops and chains ops by matrix product", () => {
  const id = composeOperators([], { step: 0, total: 1, t: 1000 }, 3);
  assert.deepEqual([...id.merge.data], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const first = pairOp(fromArray([2, 3], [0.5, 0.5, 0, 0, 0, 1]), fromArray([3, 2], [1, 0, 1, 0, 0, 1]), 1);
  const second = pairOp(fromArray([1, 2], [0.5, 0.5]), fromArray([2, 1], [1, 1]), 1);
  const both = composeOperators([first, second], { step: 0, total: 1, t: 1000 }, 3);
  assert.deepEqual(both.merge.dims, [1, 3]);
  assert.deepEqual([...both.merge.data], [0.25, 0.25, 0.5]);
  assert.deepEqual([...both.unmerge.data], [1, 1, 1]);
  const later = composeOperators([first, second], { step: 1, total: 2, t: 500 }, 3);
  assert.deepEqual(later.merge.dims, [3, 3]);
});

Deno.test("composeOperators() places merged tokens: indices without positions, chained positions read off", () => {
  assert.deepEqual([...composeOperators([], { step: 0, total: 1, t: 1000 }, 3).positions.data], [0, 1, 2]);
  const at = (positions: number[]) => fromArray([positions.length], positions) as Tensor<"float32">;
  const first: TokenOp = {
    name: "timed",
    kind: "token-op",
    operators: () => ({
      merge: f32(fromArray([2, 3], [0.5, 0.5, 0, 0, 0, 1])),
      unmerge: f32(fromArray([3, 2], [1, 0, 1, 0, 0, 1])),
      positions: at([0.5, 2]),
    }),
  };
  const second = (positions?: number[]): TokenOp => ({
    name: "second",
    kind: "token-op",
    operators: () => ({
      merge: f32(fromArray([1, 2], [0.25, 0.75])),
      unmerge: f32(fromArray([2, 1], [1, 1])),
      ...(positions ? { positions: at(positions) } : {}),
    }),
  });
  const step = { step: 0, total: 1, t: 1000 };
  assert.deepEqual([...composeOperators([first], step, 3).positions.data], [0.5, 2]);
  // 0.75 of the way from the first token (0.5) to the second (2)
  assert.deepEqual([...composeOperators([first, second([0.75])], step, 3).positions.data], [1.625]);
  // an op without positions numbers its tokens from 0, as the reference does
  assert.deepEqual([...composeOperators([first, second()], step, 3).positions.data], [0]);
  const wrong = second([0, 1]);
  assert.throws(() => composeOperators([first, wrong], step, 3), /positions '\[2\]' do not fit '2' frames/);
});

Deno.test("denoise() refuses merged-frame positions on a bundle whose blocks take no rope_pos", async () => {
  const { bundle, expected } = await loadToy();
  // the toy's blocks number merged frames themselves, as bundles exported before rope_pos did
  assert.ok(!bundle.denoiser!.blocks.some((b) => b.inputs.some((i) => i.name === "rope_pos")));
  const T = expected.z.dims[2];
  const timed: TokenOp = {
    name: "timed",
    kind: "token-op",
    operators: () => ({
      merge: f32(fromArray([1, T], Array(T).fill(1 / T))),
      unmerge: f32(fromArray([T, 1], Array(T).fill(1))),
      positions: fromArray([1], [(T - 1) / 2]) as Tensor<"float32">,
    }),
  };
  const runner = { run: () => Promise.reject(new Error("ran")) } as unknown as Parameters<
    typeof denoise
  >[0]["runner"];
  await assert.rejects(
    denoise({
      bundle,
      runner,
      sampler: instantiate(euler),
      tokenOps: [timed],
      noise: f32(expected.z),
      y: f32(expected.y),
      yMask: expected.y_mask,
      yNull: f32(expected.y_null),
      cfgScale: 7,
      timesteps: [1000, 500],
      fps: 24,
      height: 40,
      width: 48,
      emit: () => {},
    }),
    (e) => e instanceof StageError && /no 'rope_pos' block input/.test(e.message),
  );
});

Deno.test("composeOperators() rejects operators that do not fit the frames, naming the token op", () => {
  const bad = pairOp(fromArray([1, 2], [0.5, 0.5]), fromArray([2, 1], [1, 1]), 1);
  assert.throws(
    () => composeOperators([bad], { step: 0, total: 1, t: 1000 }, 3),
    (e) =>
      e instanceof PluginError && e.plugin === "pairs" && e.hook === "operators" &&
      /do not fit '3' frames/.test(e.message),
  );
});

Deno.test("denoise() refuses inputs of the wrong shape before any model call", async () => {
  const { bundle, expected } = await loadToy();
  const base = {
    bundle,
    runner: {
      plan: null as never,
      run: () => Promise.reject(new Error("must not run")),
      runPart: () => Promise.reject(new Error("must not run")),
      close: () => Promise.resolve(),
    },
    sampler: instantiate(euler),
    tokenOps: [],
    noise: f32(expected.z),
    y: f32(expected.y),
    yMask: expected.y_mask,
    yNull: f32(expected.y_null),
    cfgScale: 7,
    timesteps: [1000],
    fps: 24,
    height: 40,
    width: 48,
    emit: () => {},
  };
  await assert.rejects(
    denoise({ ...base, noise: zeros([2, 3, 3, 5, 6]) }),
    (e) => e instanceof StageError && /noise dims '\[2,3,3,5,6\]'/.test(e.message),
  );
  await assert.rejects(
    denoise({ ...base, yNull: f32(slice(expected.y_null, 0, 0, 2)) }),
    /null caption dims '\[2,8\]' do not cover \[4, 8\]/,
  );
  await assert.rejects(denoise({ ...base, yMask: slice(expected.y_mask, 0, 0, 1) }), /y mask dims/);
});

Deno.test("denoise() stops at the next model call after its signal aborts, and the stage still closes", async () => {
  const { bundle, expected } = await loadToy();
  const exec = local.create({ threads: 1, arena: false, trim: true });
  const ctrl = new AbortController();
  let runs = 0;
  try {
    const runner = await openStage({
      bundle,
      stage: "denoiser",
      executor: exec,
      scheduler: instantiate(resident),
      budget: { bytes: null },
      passes: 4,
      emit: (e) => void (e.type === "block" && e.op === "run" && runs++),
      signal: ctrl.signal,
    });
    await assert.rejects(
      denoise({
        bundle,
        runner,
        sampler: instantiate(euler),
        tokenOps: [],
        noise: f32(expected.z),
        y: f32(expected.y),
        yMask: expected.y_mask,
        yNull: f32(expected.y_null),
        cfgScale: 7,
        timesteps: [1000, 750, 500, 250],
        fps: 24,
        height: 40,
        width: 48,
        emit: (e) => e.type === "step" && e.step === 0 && ctrl.abort(new Error("user cancelled")),
        signal: ctrl.signal,
      }),
      /user cancelled/,
    );
    assert.equal(runs, 4, "one pass of 4 blocks ran, none after the abort");
    await runner.close();
    assert.equal((await exec.memory()).residentBytes, 0);
  } finally {
    await exec.close();
  }
});
