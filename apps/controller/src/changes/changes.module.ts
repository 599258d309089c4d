import { Global, Module } from '@nestjs/common';
import { ChangesResolver } from './changes.resolver';
import { ChangesService } from './changes.service';

@Global()
@Module({
  providers: [ChangesService, ChangesResolver],
  exports: [ChangesService],
})
export class ChangesModule {}
