import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsInt, IsNotEmpty, IsNumber, IsObject, IsString } from 'class-validator';

export const EVENT_NAMES = ['START', 'STOP', 'ERROR', 'HEARTBEAT'] as const;

/**
 * The monitoring envelope every Pillarbox player sends. Checked only with STRICT_SCHEMA=true; other keys and
 * the content of `data` are never checked and pass through as sent. Also the event schema of the API docs.
 */
export class MonitoringEventDto {
  @ApiProperty({ enum: EVENT_NAMES, example: 'HEARTBEAT' })
  @IsIn(EVENT_NAMES)
  event_name: string;

  @ApiProperty({ description: 'Identifies the playback session; the same for all its events', minLength: 1 })
  @IsString()
  @IsNotEmpty()
  session_id: string;

  @ApiProperty({ description: 'When the player sent the event: Unix time in milliseconds', type: 'integer' })
  @IsInt()
  timestamp: number;

  @ApiProperty({ description: 'Version of the event format', example: 1 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  version: number;

  @ApiProperty({
    description: 'What the event reports; its content depends on event_name and is passed through untouched',
    type: 'object',
    additionalProperties: true,
  })
  @IsObject()
  data: Record<string, unknown>;
}

/** What subscribers receive: the event as sent, with the address of the client that posted it. */
export class BroadcastEventDto extends MonitoringEventDto {
  @ApiProperty({
    description: 'Address of the client that posted the event, set by the service',
    example: '203.0.113.7',
  })
  user_ip: string;
}
