import cluster from 'node:cluster';
import { readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig } from '../config/load.js';
import { logLevels, type LbConfig, type LogLevel } from '../config/types.js';
import { ConfigInvalidError, formatConfigIssue, LbError } from '../errors.js';
import { runWorker } from '../cluster/worker.js';
import { startBalancer, type RunningBalancer } from '../lb.js';
import { createLogger, type Logger } from '../log.js';

const help = `lb: a dynamic L4/L7 load balancer

Usage:
  lb [run] [--config FILE] [--log-level LEVEL]   run the balancer (default command)
  lb validate [--config FILE]                    check a config file; exit 0 if valid, 1 with the errors
  lb --help | --version

Options:
  -c, --config FILE       configuration file (default: lb.yaml)
  -l, --log-level LEVEL   ${logLevels.join(' | ')} (default: log.level from the config, else info);
                          wins over log.level across reloads
  -h, --help              show this help
  -v, --version           print the version

Logs are JSON lines on stdout. The config file is watched and reloaded when it changes, or on
SIGHUP; an invalid file is rejected and the running configuration stays. SIGTERM or SIGINT stops
gracefully (in-flight requests finish, up to shutdownTimeout); a second signal exits at once.
Docs: README.md, docs/ARCHITECTURE.md, docs/errors.md`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the command line; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', default: 'lb.yaml' },
        'log-level': { type: 'string', short: 'l' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    process.stderr.write(`lb: ${(err as Error).message}\nRun "lb --help" for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0] ?? 'run';
  // Started by the primary with `workers: N`: the configuration arrives over IPC.
  if (command === 'worker' && cluster.isWorker) {
    runWorker();
    return new Promise<number>(() => undefined);
  }
  if (positionals.length > 1 || (command !== 'run' && command !== 'validate')) {
    process.stderr.write(`lb: unknown command "${positionals.join(' ')}"; expected "run" or "validate". Run "lb --help" for usage.\n`);
    return 2;
  }
  const level = values['log-level'];
  if (level !== undefined && !logLevels.includes(level as LogLevel)) {
    process.stderr.write(`lb: --log-level must be one of ${logLevels.join(', ')}, got "${level}"\n`);
    return 2;
  }

  let config;
  try {
    config = loadConfigFile(values.config);
  } catch (err) {
    if (err instanceof ConfigInvalidError) {
      process.stderr.write(`${err.message}\n`);
      process.stderr.write(`lb: ${values.config} has ${err.issues.length} error(s); nothing was started.\n`);
      return 1;
    }
    if (err instanceof LbError) {
      process.stderr.write(`lb: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (command === 'validate') {
    for (const warning of config.warnings) process.stderr.write(`warning: ${formatConfigIssue(warning)}\n`);
    process.stdout.write(`${values.config}: ok (${config.entrypoints.size} entrypoints, ${config.routers.size} routers, ${config.services.size} services)\n`);
    return 0;
  }
  return run(config, level as LogLevel | undefined);
}

/**
 * Reloads lb.yaml when it changes (watched with a debounce, so editors that write in several
 * steps cause one reload) or on SIGHUP. An invalid file is reported like `lb validate` and the
 * running configuration stays.
 */
function watchConfig(file: string, initialText: string, balancer: RunningBalancer, logger: Logger): () => void {
  let applied = initialText;
  let queue = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const reload = (trigger: string) => {
    queue = queue.then(async () => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        logger.error({ config: file, trigger }, `reload skipped: ${(err as Error).message}`);
        return;
      }
      if (text === applied && trigger !== 'SIGHUP') return;
      try {
        const next = parseConfig(text, file);
        for (const warning of next.warnings) logger.warn({ config: file, trigger }, `config warning: ${formatConfigIssue(warning)}`);
        await balancer.reload(next);
        applied = text;
      } catch (err) {
        balancer.metrics.configReloads.labels('error').inc();
        if (err instanceof ConfigInvalidError) {
          for (const issue of err.issues) logger.error({ config: file, trigger, code: err.code }, `reload rejected, keeping the running configuration: ${formatConfigIssue(issue)}`);
        } else {
          logger.error({ config: file, trigger, code: (err as LbError).code }, `reload failed, keeping the running configuration: ${(err as Error).message}`);
        }
      }
    });
  };
  const onSighup = () => reload('SIGHUP');
  process.on('SIGHUP', onSighup);
  // Watch the folder, not the file: editors and config management replace files by renaming.
  const watcher = watch(dirname(file), (_event, name) => {
    if (name !== basename(file)) return;
    clearTimeout(timer);
    timer = setTimeout(() => reload('file changed'), 200);
  });
  return () => {
    clearTimeout(timer);
    watcher.close();
    process.off('SIGHUP', onSighup);
  };
}

/** `logLevel`: the --log-level flag, which wins over lb.yaml's `log.level` until the process exits. */
async function run(config: LbConfig, logLevel: LogLevel | undefined): Promise<number> {
  const logger = createLogger(logLevel ?? config.log.level);
  for (const warning of config.warnings) logger.warn({ config: config.source }, `config warning: ${formatConfigIssue(warning)}`);
  let balancer: RunningBalancer;
  try {
    balancer = await startBalancer(config, logger, { logLevel });
  } catch (err) {
    logger.fatal({ code: (err as LbError).code }, (err as Error).message);
    return 1;
  }
  const stopWatching = watchConfig(config.source, readFileSync(config.source, 'utf8'), balancer, logger);
  logger.info({ config: config.source }, 'lb started');
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(130);
      }
      signalled = true;
      stopWatching();
      logger.info({ signal, graceMs: config.shutdownTimeoutMs }, 'shutting down: draining open requests');
      balancer.stop().then(
        () => {
          logger.info('stopped');
          resolve(0);
        },
        (err: Error) => {
          logger.error({ err: err.message }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
