/**
 * The database seam. Two implementations (a `pg` Pool on a PostgreSQL server, and embedded PGlite)
 * run the same SQL; repositories only ever see a `Queryable`, so they work inside transactions too.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** One dedicated connection: session state (advisory locks) and multi-statement scripts. */
export interface Connection extends Queryable {
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in BEGIN/COMMIT on one connection; any throw rolls back. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` holding one connection for its whole duration. */
  session<T>(fn: (conn: Connection) => Promise<T>): Promise<T>;
  /**
   * LISTENs on `channel` on a connection of its own (a server only: embedded PGlite has no other
   * process to hear from). `onLost` hears a dropped connection once; listen again to resume.
   * Returns the unlisten.
   */
  listen?(
    channel: string,
    onNotify: () => void,
    onLost: (error: Error) => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
