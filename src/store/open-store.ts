/** Pick and open a history store from configuration. */
import type { HistoryStore } from "./history-store.js";
import { MemoryHistoryStore } from "./memory-store.js";
import { defaultRetention, type Retention } from "./retention.js";
import { SqliteHistoryStore, type SqliteStoreOptions } from "./sqlite-store.js";

export { StoreOpenError } from "./sqlite-store.js";

/** Where the SQLite history lives unless configured otherwise (relative to the working directory). */
export const DEFAULT_HISTORY_DB_PATH = "./data/chat.db";

export type HistoryStoreKind = "sqlite" | "memory";

export interface OpenHistoryStoreOptions {
  kind: HistoryStoreKind;
  /** SQLite file; defaults to DEFAULT_HISTORY_DB_PATH. Ignored for memory. */
  path?: string;
  retention?: Retention;
  /** Memory store: total bytes of history kept. */
  memoryMaxBytes?: number;
  /** SQLite tuning (synchronous mode, busy timeout, prune interval, ...). */
  sqlite?: Omit<SqliteStoreOptions, "retention">;
}

/** Open the configured store. Throws StoreOpenError (sqlite) when the file cannot be used. */
export function openHistoryStore(options: OpenHistoryStoreOptions): HistoryStore {
  const retention = options.retention ?? defaultRetention;
  switch (options.kind) {
    case "memory":
      return new MemoryHistoryStore(retention, options.memoryMaxBytes);
    case "sqlite":
      return new SqliteHistoryStore(options.path ?? DEFAULT_HISTORY_DB_PATH, { ...options.sqlite, retention });
    default:
      throw new Error(`unknown history store kind: ${String((options as { kind: unknown }).kind)}`);
  }
}
