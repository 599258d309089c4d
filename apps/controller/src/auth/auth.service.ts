import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull } from 'typeorm';
import { ChangeOperation, conflict, newId, notFound, validateName } from '@netloom/model';
import { ChangesService } from '../changes/changes.service';
import { EndSession, LiveSessions } from '../common/live-sessions';
import { ApiToken, Role } from './api-token.entity';
import { Principal } from './principal';
import { hashSecret, newSecret } from './secrets';

const BEARER = /^Bearer\s+(\S+)$/i;
/** The close code of a websocket whose token was revoked (graphql-ws' Forbidden, as for a bad token at connect). */
export const TOKEN_REVOKED = { code: 4403, reason: 'token revoked' } as const;

@Injectable()
export class AuthService {
  /** Open websockets by API token id, ended when their token is revoked. */
  private readonly sockets = new LiveSessions();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
  ) {}

  private get tokens() {
    return this.dataSource.getRepository(ApiToken);
  }

  /** The principal behind an `Authorization: Bearer …` value, or null when it is missing or not valid. */
  async authenticate(authorization: unknown): Promise<Principal | null> {
    if (typeof authorization !== 'string') return null;
    const secret = BEARER.exec(authorization.trim())?.[1];
    if (!secret) return null;
    const token = await this.tokens.findOneBy({ tokenHash: hashSecret(secret), revokedAt: IsNull() });
    return token ? { tokenId: token.id, name: token.name, role: token.role } : null;
  }

  /** Take before authenticating a websocket; pass to {@link trackSocket}. */
  socketTicket(): number {
    return this.sockets.ticket();
  }

  /** Keeps `end` to call when the token is revoked; returns the function to call when the socket closes. */
  trackSocket(tokenId: string, ticket: number, end: EndSession): () => void {
    return this.sockets.track(tokenId, ticket, end);
  }

  /**
   * On first start with an empty database: the admin token, returned once to be printed. Checked
   * inside the write, so of controllers starting together on one PostgreSQL only one makes it.
   */
  async bootstrap(): Promise<string | null> {
    const { token, secret } = this.newToken('bootstrap-admin', Role.ADMIN);
    const made = await this.changes.transact(async (tx) => {
      if ((await tx.em.count(ApiToken)) > 0) return false;
      await tx.em.insert(ApiToken, token);
      return true;
    });
    return made ? secret : null;
  }

  async create(name: string, role: Role): Promise<{ token: ApiToken; secret: string }> {
    const made = this.newToken(name, role);
    await this.changes.transact(async (tx) => {
      await tx.em.insert(ApiToken, made.token);
      tx.audited(ApiToken.name, made.token.id, ChangeOperation.CREATE, null, tx.state(made.token));
    });
    return made;
  }

  private newToken(name: string, role: Role): { token: ApiToken; secret: string } {
    const secret = newSecret('nlt');
    const token = this.tokens.create({
      id: newId(),
      name: validateName(name, 'input.name'),
      role,
      tokenHash: hashSecret(secret),
      createdAt: new Date(),
      revokedAt: null,
    });
    return { token, secret };
  }

  /** Revokes a token; once that is committed, its open websockets are closed. */
  async revoke(id: string): Promise<ApiToken> {
    const revoked = await this.changes.transact(async (tx) => {
      const { em } = tx;
      const token = await em.findOneBy(ApiToken, { id });
      if (!token) throw notFound(`API token ${id} not found`, 'id');
      if (token.revokedAt) return token;
      if (token.role === Role.ADMIN) {
        const admins = await em.countBy(ApiToken, { role: Role.ADMIN, revokedAt: IsNull() });
        if (admins <= 1) throw conflict('refusing to revoke the last admin token: create another admin token first', 'id');
      }
      const before = tx.state(token);
      token.revokedAt = new Date();
      await em.save(token);
      tx.audited(ApiToken.name, token.id, ChangeOperation.UPDATE, before, tx.state(token));
      return token;
    });
    this.sockets.end(revoked.id, TOKEN_REVOKED.code, TOKEN_REVOKED.reason);
    return revoked;
  }

  list(): Promise<ApiToken[]> {
    return this.tokens.find({ order: { id: 'ASC' } });
  }

  async get(id: string): Promise<ApiToken> {
    const token = await this.tokens.findOneBy({ id });
    if (!token) throw notFound(`API token ${id} not found`, 'id');
    return token;
  }
}
