/**
 * What a queue worker does with the part of a queued `attack` or `run`: it runs the command exactly as
 * `attack … --shard i/N` or `run … --shard i/N` runs it, into a temporary folder on this thread, and puts the part's
 * output (the part file and recorded results of an attack; the whole report folder of a scenario run) in the store
 * as one archive. The job returns where it is and its checksum, never the bytes.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packFolder, type PartJob } from '../parallel/queue/parts.js';
import { putShard, type StoredShard } from '../parallel/queue/store.js';
import { PermanentJobError, redisFor } from '../parallel/queue/tasks.js';
import { ATTACK_PART_DATA, ATTACK_PART_FILE, type AttackPart } from './attack-part.js';
import type { CliIO, GlobalArgs } from './command.js';

/** An IO that keeps what the command says on stderr, for the job's error. */
function quietIO(): CliIO & { errors: string[] } {
  const errors: string[] = [];
  return { errors, out: () => undefined, err: (t) => { errors.push(t); }, isTTY: false };
}

/** Runs an `attack-part` or `run-part` job and stores its output. */
export async function runPartJob(job: PartJob): Promise<StoredShard> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'unit-attack-part-'));
  try {
    const io = quietIO();
    const common = { backend: (job.args.backend as GlobalArgs['backend'] | undefined) ?? 'auto', shard: `${job.part}/${job.of}`, out: tmp, quiet: true, debug: false, json: false, force: false, workers: 1 };
    let bytes: Uint8Array;
    if (job.kind === 'attack') {
      const { attackCommand } = await import('./commands/attack.js');
      const { expectRun, ...args } = job.args;
      const code = await attackCommand.run({ ...args, ...common, _: ['attack'] }, io);
      if (code !== 0) throw new PermanentJobError(`attack part ${job.part}/${job.of} exited with ${code}: ${io.errors.join('; ')}`);
      const part = JSON.parse(await fs.readFile(path.join(tmp, ATTACK_PART_FILE), 'utf8')) as AttackPart;
      if (part.run !== expectRun) {
        throw new PermanentJobError(`this worker attacks a different run (key ${part.run}) than the coordinator asked for (key ${String(expectRun)}): `
          + 'the worker and the coordinator differ in unit-attack version, backend, model, atlas or image files; run the same version with the same files on every machine');
      }
      bytes = await packFolder(tmp, [ATTACK_PART_FILE, ATTACK_PART_DATA]);
    } else {
      const { runCommand } = await import('./commands/run.js');
      const code = await runCommand.run({ ...job.args, ...common, 'all-metrics': false, _: ['run'] }, io);
      // Exit code 1 is a verdict (an expectation failed), part of the result; 2 is bad input.
      if (code === 2) throw new PermanentJobError(`scenario part ${job.part}/${job.of} could not run: ${io.errors.join('; ')}`);
      bytes = await packFolder(tmp);
    }
    const redis = job.store.kind === 'redis' ? await redisFor(job.queue) : undefined;
    return await putShard(job.store, redis, job.run, job.part, bytes, `${job.run}.part-${String(job.part).padStart(5, '0')}-of-${job.of}.gz`);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
