/**
 * The instructions that change only the image configuration (ENV, ARG, LABEL, WORKDIR, USER, EXPOSE, CMD,
 * ENTRYPOINT, VOLUME, HEALTHCHECK, STOPSIGNAL, SHELL, MAINTAINER, ONBUILD), applied to a stage's state.
 * Values are expanded with the stage's ARG and ENV variables first, as Docker does for these keywords.
 */
import { posix } from 'node:path';
import { DockerfileError, parseKeyValues, splitWords, type Instruction } from '../dockerfile/parse-dockerfile.ts';
import { expandVariables } from '../dockerfile/expand-variables.ts';
import type { ContainerConfig, ImageConfigJson } from '../images/image-model.ts';

export interface StageState {
  config: ImageConfigJson;
  /** ARG values declared in this stage (and build args given for them). */
  args: Map<string, string>;
  /** Whether CMD was set in this stage (ENTRYPOINT clears an inherited CMD only). */
  cmdSetHere: boolean;
}

/** ARG and ENV values visible to expansion: ENV wins over ARG, as in Docker. */
export function variables(state: StageState): Map<string, string> {
  const vars = new Map(state.args);
  for (const entry of state.config.config.Env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) vars.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return vars;
}

const NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

function durationNs(text: string, flag: string, line: number): number {
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/.exec(rest);
    if (!m) throw new DockerfileError(`HEALTHCHECK --${flag}: invalid duration ${JSON.stringify(text)}`, line);
    total += Number(m[1]) * NS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (text === '') throw new DockerfileError(`HEALTHCHECK --${flag}: a duration is required`, line);
  return Math.round(total);
}

function commandOf(i: Instruction, shell: string[]): string[] {
  return i.json ?? [...shell, i.args];
}

/** Applies one configuration instruction; returns false for keywords it does not handle. */
export function applyConfigInstruction(state: StageState, i: Instruction, buildArgs: Record<string, string>, escape: string): boolean {
  const c: ContainerConfig = state.config.config;
  const expand = (text: string) => expandVariables(text, variables(state), escape);
  const shell = c.Shell ?? ['/bin/sh', '-c'];
  switch (i.keyword) {
    case 'ENV': {
      for (const [key, raw] of parseKeyValues(expand(i.args), 'ENV', i.line, escape)) {
        const env = (c.Env ?? []).filter((e) => !e.startsWith(`${key}=`));
        env.push(`${key}=${raw}`);
        c.Env = env;
      }
      return true;
    }
    case 'ARG': {
      for (const word of splitWords(i.args, escape)) {
        const eq = word.indexOf('=');
        const name = eq === -1 ? word : word.slice(0, eq);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new DockerfileError(`ARG: invalid name ${JSON.stringify(name.slice(0, 60))}`, i.line);
        const fallback = eq === -1 ? undefined : expandVariables(word.slice(eq + 1), variables(state), escape);
        const value = buildArgs[name] ?? fallback ?? state.args.get(name);
        if (value !== undefined) state.args.set(name, value);
      }
      return true;
    }
    case 'LABEL':
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [key, value] of parseKeyValues(expand(i.args), 'LABEL', i.line, escape)) c.Labels[key] = value;
      return true;
    case 'MAINTAINER':
      state.config.author = expand(i.args);
      return true;
    case 'WORKDIR':
      c.WorkingDir = posix.resolve(c.WorkingDir || '/', expand(i.args));
      return true;
    case 'USER':
      c.User = expand(i.args);
      return true;
    case 'EXPOSE': {
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const word of splitWords(expand(i.args), escape)) {
        const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
        if (!m) throw new DockerfileError(`EXPOSE: invalid port ${JSON.stringify(word.slice(0, 40))}`, i.line);
        const proto = (m[3] ?? 'tcp').toLowerCase();
        const last = Number(m[2] ?? m[1]);
        for (let port = Number(m[1]); port <= last; port++) c.ExposedPorts[`${port}/${proto}`] = {};
      }
      return true;
    }
    case 'CMD':
      c.Cmd = commandOf(i, shell);
      state.cmdSetHere = true;
      return true;
    case 'ENTRYPOINT':
      c.Entrypoint = i.json ?? (i.args === '' ? null : [...shell, i.args]);
      if (!state.cmdSetHere) c.Cmd = null;
      return true;
    case 'VOLUME': {
      c.Volumes = { ...(c.Volumes ?? {}) };
      const paths = i.json ?? splitWords(expand(i.args), escape);
      if (paths.length === 0) throw new DockerfileError('VOLUME needs a path', i.line);
      for (const p of paths) c.Volumes[expand(p)] = {};
      return true;
    }
    case 'STOPSIGNAL':
      c.StopSignal = expand(i.args);
      if (!/^(SIG[A-Z0-9+-]+|\d+)$/.test(c.StopSignal)) throw new DockerfileError(`STOPSIGNAL: invalid signal ${JSON.stringify(c.StopSignal.slice(0, 30))}`, i.line);
      return true;
    case 'SHELL':
      if (!i.json || i.json.length === 0) throw new DockerfileError('SHELL must be written in JSON form, e.g. SHELL ["/bin/sh", "-c"]', i.line);
      c.Shell = i.json;
      return true;
    case 'ONBUILD':
      c.OnBuild = [...(c.OnBuild ?? []), i.args];
      return true;
    case 'HEALTHCHECK': {
      const words = i.args.split(/\s+/);
      const kind = words[0]?.toUpperCase();
      if (kind === 'NONE') {
        c.Healthcheck = { Test: ['NONE'] };
        return true;
      }
      if (kind !== 'CMD') throw new DockerfileError('HEALTHCHECK takes CMD … or NONE', i.line);
      const rest = i.args.slice(words[0]!.length).trim();
      const json = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : undefined;
      const check: NonNullable<ContainerConfig['Healthcheck']> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', rest] };
      for (const [flag, value] of Object.entries(i.flags)) {
        if (flag === 'interval') check.Interval = durationNs(value, flag, i.line);
        else if (flag === 'timeout') check.Timeout = durationNs(value, flag, i.line);
        else if (flag === 'start-period') check.StartPeriod = durationNs(value, flag, i.line);
        else if (flag === 'retries') check.Retries = Number(value);
        else throw new DockerfileError(`HEALTHCHECK: unknown flag --${flag}`, i.line);
      }
      c.Healthcheck = check;
      return true;
    }
    default:
      return false;
  }
}
