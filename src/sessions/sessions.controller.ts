import { Body, Controller, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard } from '../auth/api-key.guard.js';
import { ApiErrors } from '../common/api-docs.js';
import { ErrorCode } from '../common/errors.js';
import { SessionIdPipe } from '../common/validation.js';
import { ListEventsQuery, ListSessionsQuery, RegisterSessionDto } from './sessions.dto.js';
import { SessionsService } from './sessions.service.js';
import { SessionEventPageView, SessionPageView, SessionView } from './session.view.js';

/** The `{session_id}` path parameter (any case; 400 VALIDATION_FAILED when not a UUID). */
const SessionIdParam = () => ApiParam({ name: 'session_id', format: 'uuid', example: '409ed817-b824-4818-a7f7-dc532ce0d8fc' });

/** Every route: the API key, and the database. */
const AUTH_ERRORS = [ErrorCode.UNAUTHORIZED, ErrorCode.SERVICE_UNAVAILABLE];
/** Any POST with a body: Fastify parses it (JSON only, size-limited) before the handler runs. */
const BODY_ERRORS = [ErrorCode.MALFORMED_JSON, ErrorCode.UNSUPPORTED_MEDIA_TYPE, ErrorCode.PAYLOAD_TOO_LARGE];

@ApiTags('sessions')
@ApiBearerAuth()
@ApiSecurity('api-key')
@Controller('v1/sessions')
@UseGuards(ApiKeyGuard)
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Post()
  @ApiOperation({ summary: 'Start tracking a session (idempotent)' })
  @ApiCreatedResponse({ type: SessionView, description: 'Newly tracked' })
  @ApiOkResponse({ type: SessionView, description: 'Already tracked' })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ...BODY_ERRORS, ...AUTH_ERRORS)
  async register(@Body() body: RegisterSessionDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<SessionView> {
    const { created, session } = await this.sessions.register(body);
    reply.status(created ? 201 : 200);
    return session;
  }

  @Get()
  @ApiOperation({
    summary: 'List sessions: a change feed in a stable order; follow next_cursor',
    description:
      'Sessions in the order of their last change. Follow next_cursor until it is null; later, continue from ' +
      'resume_cursor to get only what changed since. Every change is served at least once, even when concurrent ' +
      'writes commit out of order (a page only holds changes of transactions older than every one still running).',
  })
  @ApiOkResponse({ type: SessionPageView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ...AUTH_ERRORS)
  list(@Query() query: ListSessionsQuery): Promise<SessionPageView> {
    return this.sessions.list(query);
  }

  @Get(':session_id')
  @ApiOperation({ summary: 'Where is session X' })
  @SessionIdParam()
  @ApiOkResponse({ type: SessionView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ErrorCode.SESSION_NOT_FOUND, ...AUTH_ERRORS)
  get(@Param('session_id', SessionIdPipe) sessionId: string): Promise<SessionView> {
    return this.sessions.get(sessionId);
  }

  @Get(':session_id/events')
  @ApiOperation({ summary: "The session's history: webhooks received and polls made, newest first" })
  @SessionIdParam()
  @ApiOkResponse({ type: SessionEventPageView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ErrorCode.SESSION_NOT_FOUND, ...AUTH_ERRORS)
  events(@Param('session_id', SessionIdPipe) sessionId: string, @Query() query: ListEventsQuery): Promise<SessionEventPageView> {
    return this.sessions.events(sessionId, query);
  }

  @Post(':session_id/reconcile')
  @HttpCode(200)
  @ApiOperation({ summary: 'Poll FinBox for the session now and return it updated' })
  @SessionIdParam()
  @ApiOkResponse({ type: SessionView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ErrorCode.SESSION_NOT_FOUND, ErrorCode.UPSTREAM_UNAVAILABLE, ...BODY_ERRORS, ...AUTH_ERRORS)
  reconcile(@Param('session_id', SessionIdPipe) sessionId: string): Promise<SessionView> {
    return this.sessions.reconcileNow(sessionId);
  }
}
