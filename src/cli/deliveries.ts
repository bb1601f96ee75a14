/**
 * `pier deliveries list|show|redeliver`: the delivery log of events (status, response code, latency,
 * attempts, last error, callback), read from the metadata index of the data directory.
 */
import { Command } from 'commander';
import type { DeliveryRecord, DeliveryStatus } from '../events/event-log.ts';
import type { DataFlags } from './token.ts';
import { cliFail, withDataFlags, withEventLog } from './events-store.ts';

const STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'dead', 'waiting', 'cancelled'];
const fail = (message: string): never => cliFail('deliveries', message);

function plain(d: DeliveryRecord): Record<string, unknown> {
  return JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
}

export function deliveriesCommand(): Command {
  const deliveries = new Command('deliveries').description('the delivery log of events and webhooks');

  withDataFlags(
    deliveries
      .command('list')
      .description('newest first')
      .option('--status <status>', STATUSES.join(', '))
      .option('--endpoint <key>', 'config:NAME or webhook:ID')
      .option('--repository <name>', 'only events of this repository')
      .option('--limit <n>', 'at most this many (default 50)', '50')
      .option('--json', 'print JSON'),
  ).action(async (flags: DataFlags & { status?: string; endpoint?: string; repository?: string; limit: string; json?: boolean }) => {
    if (flags.status !== undefined && !STATUSES.includes(flags.status as DeliveryStatus)) fail(`--status: one of ${STATUSES.join(', ')}`);
    const limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) fail('--limit: 1 to 10000');
    await withEventLog(flags, 'deliveries', async (store) => {
      const list = await store.eventLog.listDeliveries({
        limit,
        ...(flags.status ? { status: flags.status as DeliveryStatus } : {}),
        ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
        ...(flags.repository ? { repository: flags.repository } : {}),
      });
      if (flags.json) return void process.stdout.write(`${JSON.stringify({ deliveries: list.map(plain) }, null, 2)}\n`);
      process.stdout.write(`${['ID', 'STATUS', 'ENDPOINT', 'EVENT', 'REPOSITORY', 'ATTEMPTS', 'CODE', 'LATENCY', 'CALLBACK', 'LAST ERROR'].join('\t')}\n`);
      for (const d of list) {
        const row = [d.id, d.status, d.endpoint, d.eventType, d.repository ?? '-', d.attempts, d.responseCode ?? '-', d.latencyMs !== undefined ? `${d.latencyMs}ms` : '-', d.callback?.state ?? '-', d.lastError ?? '-'];
        process.stdout.write(`${row.join('\t')}\n`);
      }
    });
  });

  withDataFlags(deliveries.command('show').description('one delivery as JSON').argument('<id>', 'the delivery id')).action(async (id: string, flags: DataFlags) => {
    await withEventLog(flags, 'deliveries', async (store) => {
      const d = await store.eventLog.getDelivery(id);
      if (!d) return fail(`no delivery ${id}`);
      process.stdout.write(`${JSON.stringify(plain(d), null, 2)}\n`);
    });
  });

  withDataFlags(deliveries.command('redeliver').description('send a dead, cancelled or delivered delivery again').argument('<id>', 'the delivery id')).action(
    async (id: string, flags: DataFlags) => {
      await withEventLog(flags, 'deliveries', async (store) => {
        if (!(await store.eventLog.redeliver(id, new Date()))) {
          const d = await store.eventLog.getDelivery(id);
          fail(d ? `the delivery is ${d.status}: only dead, cancelled or delivered deliveries can be redelivered` : `no delivery ${id}`);
        }
        process.stdout.write(`delivery ${id} is pending again\n`);
      });
    },
  );
  return deliveries;
}
