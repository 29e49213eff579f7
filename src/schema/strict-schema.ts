import { BadRequestException } from '@nestjs/common';
import { validateSync } from 'class-validator';
import { rejection } from '../common/rejection.js';
import { MonitoringEventDto } from './monitoring-event.dto.js';

/**
 * The check of STRICT_SCHEMA=true: the five envelope fields are copied into a DTO and validated, so that the
 * event itself (extra keys, `data`) is neither changed nor looked into.
 * @throws BadRequestException (400) whose `message` lists every fault and `fields` the fields at fault.
 */
export function checkMonitoringEvent(event: Record<string, unknown>): void {
  const dto = new MonitoringEventDto();
  Object.assign(dto, {
    event_name: event.event_name,
    session_id: event.session_id,
    timestamp: event.timestamp,
    version: event.version,
    data: event.data,
  });
  const errors = validateSync(dto, { forbidUnknownValues: false });
  if (errors.length === 0) return;
  throw rejection(
    'schema',
    new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: errors.flatMap((e) => Object.values(e.constraints ?? {})),
      fields: errors.map((e) => e.property),
    }),
  );
}
