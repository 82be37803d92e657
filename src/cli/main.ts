import cluster from 'node:cluster';
import { readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile, parseConfig } from '../config/load.js';
import { logLevels, type LbConfig, type LogLevel } from '../config/types.js';
import { ConfigInvalidError, ConfigReadError, formatConfigIssue, LbError } from '../errors.js';
import { didYouMean } from '../config/suggest.js';
import { runWorker } from '../cluster/worker.js';
import { startBalancer, type RunningBalancer } from '../lb.js';
import { createLogger, type Logger } from '../log.js';

const logLevelHelp = `-l, --log-level LEVEL   ${logLevels.join(' | ')} (default: log.level from the config, else info);
                          wins over log.level across reloads`;

const help = {
  lb: `lb: a dynamic L4/L7 load balancer

Usage:
  lb [run] [--config FILE] [--log-level LEVEL]   run the balancer (default command)
  lb validate [--config FILE]                    check a config file; exit 0 if valid, 1 with the errors
  lb --help | --version
  lb COMMAND --help                              help for one command

Options:
  -c, --config FILE       configuration file (default: lb.yaml, in the working directory)
  ${logLevelHelp}
  -h, --help              show this help
  -v, --version           print the version

Logs are JSON lines on stdout. The config file is watched and reloaded when it changes, or on
SIGHUP; an invalid file is rejected and the running configuration stays. SIGTERM or SIGINT stops
gracefully (in-flight requests finish, up to shutdownTimeout); a second signal exits at once.
Docs: README.md, docs/configuration.md, docs/ARCHITECTURE.md, docs/errors.md`,
  run: `lb run: run the balancer (the default command)

Usage:
  lb run [--config FILE] [--log-level LEVEL]

Options:
  -c, --config FILE       configuration file (default: lb.yaml, in the working directory)
  ${logLevelHelp}

The file is checked first, as lb validate does: with an error nothing is started, and the exit
code is 1. Then it is watched: a change (or SIGHUP) reloads it, and an invalid version is logged
and rejected while the running configuration stays. SIGTERM or SIGINT drains open requests for up
to shutdownTimeout; a second signal exits at once. Logs are JSON lines on stdout.`,
  validate: `lb validate: check a config file without starting anything

Usage:
  lb validate [--config FILE]

Options:
  -c, --config FILE       configuration file (default: lb.yaml, in the working directory)

Exit code 0 when the file is valid (deprecation warnings go to stderr), 1 with every error as
FILE:LINE:COL key.path: message, 2 for a wrong command line. The certificate and key files the
file names are read and checked too. Every key is in docs/configuration.md.`,
};

const commands = ['run', 'validate'] as const;
type Command = (typeof commands)[number];
const flags = ['--config', '--log-level', '--help', '--version'];

/** parseArgs' message for an unknown option, said plainly, with the flag that was probably meant. */
function usageError(err: Error & { code?: string }): string {
  const unknown = /^Unknown option '([^']+)'/.exec(err.message);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    const flag = unknown[1]!.split('=')[0]!;
    return `unknown option ${flag}${didYouMean(flag, flags)}`;
  }
  return err.message;
}

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
    process.stderr.write(`lb: ${usageError(err as Error)}. Run "lb --help" for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    const topic = positionals[0];
    process.stdout.write(`${commands.includes(topic as Command) ? help[topic as Command] : help.lb}\n`);
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
  if (positionals.length > 1 || !commands.includes(command as Command)) {
    process.stderr.write(`lb: unknown command "${positionals.join(' ')}"${didYouMean(command, commands)}; expected "run" or "validate". Run "lb --help" for usage.\n`);
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
      process.stderr.write(`lb: ${values.config} has ${err.issues.length} error(s)${command === 'run' ? '; nothing was started' : ''}.\n`);
      return 1;
    }
    if (err instanceof ConfigReadError) {
      const hint = err.missing ? `\nlb: the working directory is ${process.cwd()}; name the file with --config FILE (lb --help).` : '';
      process.stderr.write(`lb: ${err.message}${hint}\n`);
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
  /** A reload was rejected: the next good one says that the file is valid again. */
  let rejected = false;
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
        if (rejected) logger.info({ config: file, trigger }, 'the configuration is valid again, and applied');
        rejected = false;
      } catch (err) {
        rejected = true;
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
