import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** How the server answers GET /jwks.json: the keys, nothing at all (a hang), a 500, or text that is no key set. */
export type JwksMode = 'keys' | 'hang' | 'error' | 'garbage';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

/** A key pair for tokens, its public half as a JWK with `kid` and `alg`. */
export async function signingKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A token signed with `key` (a key pair's, or an HMAC secret with `alg` HS256), `exp` in `ttlS` seconds. */
export function token(
  key: SigningKey | { secret: string },
  claims: JWTPayload = {},
  { ttlS = 300, notBeforeS }: { ttlS?: number | null; notBeforeS?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header = 'secret' in key ? { alg: 'HS256' } : { alg: key.alg, kid: key.kid };
  let jwt = new SignJWT(claims).setProtectedHeader(header).setIssuedAt(now);
  // ttlS null: a token without `exp`.
  if (ttlS !== null) jwt = jwt.setExpirationTime(now + ttlS);
  if (notBeforeS !== undefined) jwt = jwt.setNotBefore(now + notBeforeS);
  return jwt.sign('secret' in key ? new TextEncoder().encode(key.secret) : key.privateKey);
}

/** A JWKS on 127.0.0.1 whose keys and behaviour the test changes; counts the fetches. */
export class JwksServer {
  keys: SigningKey[] = [];
  mode: JwksMode = 'keys';
  fetches = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<JwksServer> {
    const server = http.createServer();
    const jwks = new JwksServer(server);
    server.on('connection', (socket: Socket) => {
      jwks.sockets.add(socket);
      socket.on('close', () => jwks.sockets.delete(socket));
    });
    server.on('request', (req, res) => jwks.answer(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return jwks;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(res: http.ServerResponse): void {
    this.fetches++;
    if (this.mode === 'hang') return;
    if (this.mode === 'error') return void res.writeHead(500).end('down for maintenance');
    if (this.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
  }
}
