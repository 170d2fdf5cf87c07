import { Command } from 'commander';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { closeOnSignal, describeUrls, startApp } from '../src/main.ts';
import { runCli, vectorBackendOption } from './lib/cli.ts';

const program = new Command('start')
  .description('Serve what is indexed: GraphQL API, playground, search page, thumbnails, health and metrics')
  .option('--port <port>', 'port to listen on (PORT, default 4000; 0 = any free port)')
  .option('--host <host>', 'address to bind (HOST, default 127.0.0.1)')
  .option('--data-dir <dir>', 'data directory (DATA_DIR, default ./data)')
  .option('--database-url <url>', 'PostgreSQL URL (DATABASE_URL); unset = embedded PGlite under DATA_DIR/pg')
  .addOption(vectorBackendOption())
  .option('--read-only', 'refuse every mutation');

runCli(async () => {
  const o = program.parse().opts<{
    port?: string;
    host?: string;
    dataDir?: string;
    databaseUrl?: string;
    vectorBackend?: string;
    readOnly?: boolean;
  }>();
  const config = loadConfig({
    overrides: {
      PORT: o.port,
      HOST: o.host,
      DATA_DIR: o.dataDir,
      DATABASE_URL: o.databaseUrl,
      VECTOR_BACKEND: o.vectorBackend,
    },
  });
  const logger = createLogger(config.logLevel);
  const app = await startApp(config, logger, { readOnly: o.readOnly === true });
  process.stdout.write(`${describeUrls(app)}\n`);
  await closeOnSignal(app, logger);
});
