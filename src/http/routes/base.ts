/** `GET /v2/`: the API version check clients make first. */
import { replyJson, type Exchange } from '../exchange.ts';

export async function check({ res }: Exchange): Promise<void> {
  replyJson(res, 200, {});
}
