/**
 * Repository names, per the OCI Distribution grammar:
 *   path-component ("/" path-component)*, path-component = [a-z0-9]+ (separator [a-z0-9]+)*,
 *   separator = "." | "_" | "__" | "-"+
 * bounded to 255 characters (the reference registry's limit, leaving room for a host in a full reference).
 * Names that pass cannot hold "..", "/" at either end, or any character that means something to a path.
 */
import { RegistryError } from '../errors.ts';

export const MAX_NAME_LENGTH = 255;
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export function isRepositoryName(text: string): boolean {
  return text.length > 0 && text.length <= MAX_NAME_LENGTH && NAME.test(text);
}

export function parseRepositoryName(text: string): string {
  if (!isRepositoryName(text)) {
    const why = text.length > MAX_NAME_LENGTH ? `longer than ${MAX_NAME_LENGTH} characters` : 'not a valid repository name';
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${why}`, { name: text.slice(0, MAX_NAME_LENGTH + 1) });
  }
  return text;
}
