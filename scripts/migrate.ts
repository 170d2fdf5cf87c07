import { Command } from 'commander';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { openStore } from '../src/store/open-store.ts';
import { runCli } from './lib/cli.ts';

const program = new Command('migrate')
  .description('Apply pending database migrations (DATABASE_URL, or embedded PGlite under DATA_DIR/pg)')
  .option('--data-dir <dir>', 'data directory (DATA_DIR)')
  .option('--database-url <url>', 'PostgreSQL URL (DATABASE_URL); unset = embedded PGlite');

runCli(async () => {
  const opts = program.parse().opts<{ dataDir?: string; databaseUrl?: string }>();
  const config = loadConfig({ overrides: { DATA_DIR: opts.dataDir, DATABASE_URL: opts.databaseUrl } });
  const logger = createLogger(config.logLevel);
  // On a server, migrations serialise on their own advisory lock and touch nothing in DATA_DIR.
  const { db, close } = await openStore(config, logger, { command: 'migrate', usesDataDir: false });
  let rows: { name: string }[];
  try {
    rows = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY version');
  } finally {
    await close();
  }
  console.log(`database (${db.kind}) is at ${rows.at(-1)?.name ?? 'no migration'}`);
});
