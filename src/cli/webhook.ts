/**
 * `pier webhook create|list|delete|test`: repository webhooks (Docker Hub-style, or the reference or
 * CloudEvents format), kept in the metadata index of the data directory. `create` prints the signing secret
 * on standard output, the only time it is shown. The URL is checked like one given to the admin API
 * (notifications.webhooks.allow/deny of `--config`).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { OutboundPolicy } from '../events/delivery/outbound-policy.ts';
import { createWebhook, sendTestEvent, webhookJson, WebhookInputError } from '../events/webhooks.ts';
import type { DataFlags } from './token.ts';
import { cliFail, withDataFlags, withEventLog } from './events-store.ts';

const fail = (message: string): never => cliFail('webhook', message);

export function webhookCommand(): Command {
  const webhook = new Command('webhook').description('manage repository webhooks (signed deliveries of push events, callback chains)');

  withDataFlags(
    webhook
      .command('create')
      .description('create a webhook and print its signing secret (shown this once)')
      .requiredOption('--name <name>', 'a unique name')
      .requiredOption('--url <url>', 'where to POST deliveries (http or https)')
      .requiredOption('--repositories <pattern>', 'a repository or pattern: team/app, team/*, team/**, **')
      .option('--format <format>', 'hub (default), reference or cloudevents')
      .option('--event <type...>', 'event types (default image.pushed): image.pushed, image.deleted, tag.deleted, …, build.succeeded, or *')
      .option('--after <id>', 'chain: fire only after this webhook was called back with success')
      .option('--json', 'print the webhook and its secret as JSON'),
  ).action(async (flags: DataFlags & { name: string; url: string; repositories: string; format?: string; event?: string[]; after?: string; json?: boolean }) => {
    await withEventLog(flags, 'webhook', async (store, config) => {
      const policy = new OutboundPolicy({ allow: config.notifications.webhooks.allow, deny: config.notifications.webhooks.deny });
      try {
        const input = { name: flags.name, url: flags.url, repositories: flags.repositories, format: flags.format, events: flags.event, after: flags.after };
        const created = await createWebhook(store.eventLog, policy, input, process.env.USER);
        if (flags.json) process.stdout.write(`${JSON.stringify({ ...webhookJson(created), secret: created.secret }, null, 2)}\n`);
        else {
          process.stdout.write(`${created.secret}\n`);
          process.stderr.write(`created webhook ${created.id} "${created.name}" (${created.format}) for ${created.repositories} → ${created.url}.\nThe line above is its signing secret: store it now, it is not shown again.\n`);
        }
      } catch (error) {
        if (error instanceof WebhookInputError) fail(error.message);
        throw error;
      }
    });
  });

  withDataFlags(webhook.command('list').description('list webhooks (never their secrets)').option('--json', 'print JSON')).action(async (flags: DataFlags & { json?: boolean }) => {
    await withEventLog(flags, 'webhook', async (store) => {
      const list = await store.eventLog.listWebhooks();
      if (flags.json) return void process.stdout.write(`${JSON.stringify({ webhooks: list.map(webhookJson) }, null, 2)}\n`);
      process.stdout.write(`${['ID', 'NAME', 'FORMAT', 'REPOSITORIES', 'EVENTS', 'AFTER', 'URL'].join('\t')}\n`);
      for (const w of list) process.stdout.write(`${[w.id, w.name, w.format, w.repositories, w.eventTypes.join(',') || 'image.pushed', w.after ?? '-', w.url].join('\t')}\n`);
    });
  });

  withDataFlags(webhook.command('delete').description('delete a webhook and its deliveries').argument('<id>', 'the webhook id')).action(async (id: string, flags: DataFlags) => {
    await withEventLog(flags, 'webhook', async (store) => {
      if (!(await store.eventLog.deleteWebhook(id))) fail(`no webhook ${id}`);
      process.stdout.write(`deleted webhook ${id}\n`);
    });
  });

  withDataFlags(webhook.command('test').description('send a test event (an image push of tag pier-test)').argument('<id>', 'the webhook id')).action(async (id: string, flags: DataFlags) => {
    await withEventLog(flags, 'webhook', async (store) => {
      const found = await store.eventLog.getWebhook(id);
      if (!found) return fail(`no webhook ${id}`);
      const eventId = await sendTestEvent(store.index, found, { addr: `${hostname()}:cli`, instanceID: randomUUID() }, process.env.USER);
      process.stdout.write(`stored test event ${eventId}: a running pier serve delivers it (see pier deliveries list --endpoint webhook:${id})\n`);
    });
  });
  return webhook;
}
