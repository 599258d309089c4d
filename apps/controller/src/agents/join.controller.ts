import { BadRequestException, Body, Controller, HttpCode, Post, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { ErrorCode, NetloomError } from '@netloom/model';
import { JOIN_PATH, JoinRequest, JoinResponse } from '@netloom/protocol';
import { AgentsService } from './agents.service';

/** POST /agent/join: an agent binds a host credential with its host's one-time join token (see `JoinRequest`). */
@Controller()
export class JoinController {
  constructor(private readonly agents: AgentsService) {}

  @Post(JOIN_PATH)
  @HttpCode(200)
  async join(@Body() body: Partial<JoinRequest> | undefined): Promise<JoinResponse> {
    try {
      return await this.agents.join(body);
    } catch (error) {
      if (error instanceof NetloomError && error.code === ErrorCode.BadUserInput) throw new BadRequestException(error.message);
      // The store is away (PostgreSQL down, a full disk): the agent asks again later with the same credential.
      if (error instanceof NetloomError && error.code === ErrorCode.Unavailable) throw new ServiceUnavailableException(error.message);
      if (error instanceof NetloomError) throw new UnauthorizedException(error.message);
      throw error;
    }
  }
}
