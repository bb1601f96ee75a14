/**
 * Liveness and readiness. `/healthz` answers while the process runs; `/readyz` only while the registry is
 * serving (not starting, not draining) and its storage and index answer.
 */
export type Lifecycle = 'starting' | 'ready' | 'draining';

export interface ReadinessReport {
  ready: boolean;
  state: Lifecycle;
  checks: Record<string, 'ok' | string>;
}

export class Health {
  state: Lifecycle = 'starting';

  constructor(private readonly probes: Record<string, () => Promise<void>>) {}

  async readiness(): Promise<ReadinessReport> {
    const checks: Record<string, string> = {};
    await Promise.all(
      Object.entries(this.probes).map(async ([name, probe]) => {
        try {
          await probe();
          checks[name] = 'ok';
        } catch (error) {
          checks[name] = (error as Error).message || 'failed';
        }
      }),
    );
    const ready = this.state === 'ready' && Object.values(checks).every((c) => c === 'ok');
    return { ready, state: this.state, checks };
  }
}
