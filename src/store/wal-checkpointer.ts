/**
 * Copies the SQLite WAL back into the database file from a worker thread.
 *
 * Why: SQLite's automatic checkpoint runs inside the commit that crosses its
 * threshold, on the caller's thread. For the server that is the event loop:
 * every ~140 commits one append took 7-40 ms (copy the WAL's pages, fsync
 * the WAL, fsync the database), and every client's delivery waited for it
 * (bench/store-append-micro.ts --rate 1000: 36 of 6,000 appends over 3 ms;
 * 0-1 with this). Here the store's own connection does not checkpoint on
 * commit (wal_autocheckpoint = 0); a second connection in a worker makes
 * PASSIVE checkpoints, which never block the writer, in rounds (ROUND_COMMITS),
 * so the WAL still starts over from its beginning and stays small.
 *
 * The worker is started after the first few commits (a store that is opened,
 * read and closed never pays for a thread), and stop() waits for it to close
 * its connection, so the store's own close is the last one and leaves no WAL.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Slots of the shared Int32Array. */
const COMMITS = 0; // bumped by the store after each commit
const STOP = 1; // 1: close the connection and end
const DONE = 2; // 1: the worker's connection is closed
const LEFTOVER = 3; // 1: the store committed during the worker's last pass; the store copies those frames itself
const ROUNDS = 4; // bumped by the worker after each round of passes
const WAKE = 5; // bumped by the store to start a round now (enough commits waiting) or to stop
const SLOTS = 6;

/** Commits before the worker is started: below this the WAL is small and close() empties it. */
const START_AFTER_COMMITS = 64;
/**
 * A round once this many commits wait, or after ROUND_MS with any: each
 * checkpoint copies the pages the commits since the last one touched (the same
 * few hot pages, over and over) and fsyncs two files, so a round per commit
 * would cost far more CPU than SQLite's own every ~140 commits.
 */
const ROUND_COMMITS = 128;
/** A commit waits at most about this long to be copied into the database file. */
const ROUND_MS = 1000;
/** Back-to-back passes the worker makes to catch up with commits made during the previous one. */
const CATCH_UP_PASSES = 3;
/**
 * Commits without a round of the worker after which the store checkpoints
 * itself, as SQLite would: a worker starved of CPU (a busy machine) must not
 * let the WAL grow without bound (at one small message per commit, 500 commits
 * leave ~14 MB of WAL; a healthy worker makes a round every ROUND_COMMITS).
 */
const STARVED_COMMITS = 500;
/** How long stop() waits for the worker to close its connection (it may be booting, or mid-checkpoint). */
const STOP_WAIT_MS = 5000;

/**
 * The worker, as CommonJS source: it runs from a string so that it works the
 * same from src/ (tests) and dist/.
 *
 * The WAL starts over from its beginning only when a commit finds it wholly
 * copied back. A pass during which the store committed is followed at once by
 * another, copying just what those commits wrote; if the store is still
 * committing after a few, the worker leaves the last frames to the store
 * (LEFTOVER): the store, being the only writer, copies them with nothing
 * arriving meanwhile, so its next commit starts the WAL over.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const state = new Int32Array(workerData.state);
const stopping = () => Atomics.load(state, ${STOP}) === 1;
let db;
try {
  db = new Database(workerData.path, { timeout: 1000 });
  db.pragma("wal_autocheckpoint = 0");
  db.pragma("synchronous = " + workerData.synchronous);
  let seen = 0;
  let wake = 0;
  while (!stopping()) {
    Atomics.wait(state, ${WAKE}, wake, ${ROUND_MS});
    wake = Atomics.load(state, ${WAKE});
    if (Atomics.load(state, ${COMMITS}) === seen) continue;
    for (let pass = 0; !stopping(); pass++) {
      seen = Atomics.load(state, ${COMMITS});
      try {
        db.pragma("wal_checkpoint(PASSIVE)");
      } catch {
        // A checkpoint of the store's own is running (the TRUNCATE after a delete): it copies these frames.
      }
      if (Atomics.load(state, ${COMMITS}) === seen) break;
      if (pass === ${CATCH_UP_PASSES}) {
        Atomics.store(state, ${LEFTOVER}, 1);
        break;
      }
    }
    Atomics.add(state, ${ROUNDS}, 1);
  }
} finally {
  try { db?.close(); } catch {}
  Atomics.store(state, ${DONE}, 1);
  Atomics.notify(state, ${DONE});
}
`;

export interface WalCheckpointerOptions {
  path: string;
  synchronous: "NORMAL" | "FULL";
  /** Copy the WAL's last frames on the store's own connection (a PASSIVE checkpoint); see LEFTOVER. */
  checkpointHere: () => void;
  /** Called once if the worker fails: the store then lets SQLite checkpoint on its own thread again. */
  onFailure: (err: unknown) => void;
}

export class WalCheckpointer {
  private readonly state = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  private worker: Worker | undefined;
  private commits = 0;
  private stopped = false;
  /** The worker's round count when last looked at, and the commits since it last changed. */
  private rounds = 0;
  private waiting = 0;

  constructor(private readonly options: WalCheckpointerOptions) {}

  /** The store committed: count it, and start the worker's round when enough wait (starting the worker itself at first). */
  committed(): void {
    if (this.stopped) return;
    if (!this.worker) {
      if (++this.commits < START_AFTER_COMMITS) return;
      this.start();
    }
    Atomics.add(this.state, COMMITS, 1);
    // The worker is between rounds now (it waits after leaving frames), so nothing contends with this copy.
    if (Atomics.load(this.state, LEFTOVER) === 1) {
      Atomics.store(this.state, LEFTOVER, 0);
      return this.options.checkpointHere();
    }
    const rounds = Atomics.load(this.state, ROUNDS);
    if (rounds !== this.rounds) {
      this.rounds = rounds;
      this.waiting = 0;
    }
    this.waiting++;
    if (this.waiting === ROUND_COMMITS) this.wake();
    else if (this.waiting >= STARVED_COMMITS) {
      this.waiting = 0;
      this.options.checkpointHere();
    }
  }

  /** Stop the worker and wait (bounded) until its connection is closed. Synchronous, for the store's close(). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const worker = this.worker;
    if (!worker) return;
    Atomics.store(this.state, STOP, 1);
    this.wake();
    Atomics.wait(this.state, DONE, 0, STOP_WAIT_MS);
    void worker.terminate();
  }

  private wake(): void {
    Atomics.add(this.state, WAKE, 1);
    Atomics.notify(this.state, WAKE);
  }

  private start(): void {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
        path: this.options.path,
        synchronous: this.options.synchronous,
        state: this.state.buffer,
      },
      // It holds one SQLite connection and a loop: a small heap is plenty.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    worker.unref();
    worker.on("error", (err) => this.fail(err));
    worker.on("exit", (code) => {
      if (!this.stopped) this.fail(new Error(`WAL checkpoint worker exited with code ${code}`));
    });
    this.worker = worker;
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.options.onFailure(err);
  }
}
