import { Body, Controller, HttpCode, Post, UnauthorizedException } from '@nestjs/common';
import { NetloomError } from '@netloom/model';
import { JOIN_PATH, JoinRequest, JoinResponse } from '@netloom/protocol';
import { AgentsService } from './agents.service';

/** POST /agent/join: an agent exchanges its host's one-time join token for a host credential. */
@Controller()
export class JoinController {
  constructor(private readonly agents: AgentsService) {}

  @Post(JOIN_PATH)
  @HttpCode(200)
  async join(@Body() body: Partial<JoinRequest> | undefined): Promise<JoinResponse> {
    try {
      return await this.agents.join(body?.joinToken);
    } catch (error) {
      if (error instanceof NetloomError) throw new UnauthorizedException(error.message);
      throw error;
    }
  }
}
