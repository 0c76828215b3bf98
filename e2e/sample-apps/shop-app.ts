import type { IncomingMessage, ServerResponse } from 'node:http';

/** A sample app, ready for http.createServer(), and how to flush its API log when it stops. */
export interface ShopApp {
  callback: (req: IncomingMessage, res: ServerResponse) => void;
  close: () => Promise<void>;
}
