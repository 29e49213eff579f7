import { SetMetadata } from '@nestjs/common';

export const RATE_LIMITED = 'pillarbox:rateLimited';

/** Marks the handlers that RATE_LIMIT_PER_MINUTE applies to; metadata only, nothing runs when the limit is off. */
export const RateLimited = (): MethodDecorator => SetMetadata(RATE_LIMITED, true);
