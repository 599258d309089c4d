import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { PAGES, resolveAssets } from './assets';
import { sendWebFile } from './send-file';

/**
 * `/ui`: the live topology page, and `/ui/assets/<name>`: the files of the pages (GraphiQL at
 * /graphql included), each name mapped to one file. No token here: the pages hold nothing of the
 * network; they ask the API with the token the user enters.
 */
@Controller('ui')
export class WebController {
  private readonly assets = resolveAssets();

  @Get()
  topology(@Res() res: Response): void {
    sendWebFile(res, PAGES.topology, true);
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() res: Response): void {
    const path = this.assets.get(name);
    if (!path) throw new NotFoundException("no such asset");
    sendWebFile(res, path);
  }
}
