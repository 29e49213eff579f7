import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** Every 4xx and 5xx body: Nest's HttpException format. */
export class HttpErrorDto {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({
    description: 'What went wrong; a list of faults for a strict-schema refusal',
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    example: 'The request body is not valid JSON',
  })
  message: string | string[];

  @ApiPropertyOptional({
    description: 'Strict schema only: the envelope fields at fault',
    type: [String],
    example: ['event_name', 'timestamp'],
  })
  fields?: string[];
}
