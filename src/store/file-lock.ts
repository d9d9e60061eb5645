/**
 * One server per history file, held with SQLite's own locking on a small file
 * beside it (`<database>-lock`, empty).
 *
 * Why not lock the database itself: the store's WAL is checkpointed by a
 * second connection (wal-checkpointer.ts), which an EXCLUSIVE locking mode
 * on the database would shut out. The lock here is a POSIX lock, like
 * SQLite's: the operating system releases it when the process dies however
 * it dies (SIGKILL, OOM), so a crashed server never leaves a stale lock, and a
 * second store in the same process is refused too. Tools (the sqlite3 shell, a
 * backup) can read the database while the server runs.
 */
import Database from "better-sqlite3";

export class FileLock {
  private constructor(private readonly db: Database.Database) {}

  /** Take the lock beside `path`, waiting up to busyTimeoutMs; throws SQLite's SQLITE_BUSY if another holder keeps it. */
  static acquire(path: string, busyTimeoutMs: number): FileLock {
    const db = new Database(`${path}-lock`, { timeout: busyTimeoutMs });
    try {
      // No journal file: the lock file is never written.
      db.pragma("journal_mode = MEMORY");
      db.pragma("locking_mode = EXCLUSIVE");
      db.exec("BEGIN EXCLUSIVE");
      return new FileLock(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  release(): void {
    if (!this.db.open) return;
    this.db.exec("ROLLBACK");
    this.db.close();
  }
}
