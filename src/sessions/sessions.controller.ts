import { Body, Controller, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard } from '../auth/api-key.guard.js';
import { ApiErrors } from '../common/api-docs.js';
import { ErrorCode } from '../common/errors.js';
import { SessionIdPipe } from '../common/validation.js';
import { ListEventsQuery, ListSessionsQuery, RegisterSessionDto } from './sessions.dto.js';
import { SessionsService } from './sessions.service.js';
import { SessionEventPageView, SessionPageView, SessionView } from './session.view.js';

const AUTH_ERRORS = [ErrorCode.UNAUTHORIZED, ErrorCode.SERVICE_UNAVAILABLE];

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
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ErrorCode.MALFORMED_JSON, ErrorCode.UNSUPPORTED_MEDIA_TYPE, ...AUTH_ERRORS)
  async register(@Body() body: RegisterSessionDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<SessionView> {
    const { created, session } = await this.sessions.register(body);
    reply.status(created ? 201 : 200);
    return session;
  }

  @Get()
  @ApiOperation({ summary: 'List sessions: a change feed in a stable order; follow next_cursor' })
  @ApiOkResponse({ type: SessionPageView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ...AUTH_ERRORS)
  list(@Query() query: ListSessionsQuery): Promise<SessionPageView> {
    return this.sessions.list(query);
  }

  @Get(':session_id')
  @ApiOperation({ summary: 'Where is session X' })
  @ApiOkResponse({ type: SessionView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ErrorCode.SESSION_NOT_FOUND, ...AUTH_ERRORS)
  get(@Param('session_id', SessionIdPipe) sessionId: string): Promise<SessionView> {
    return this.sessions.get(sessionId);
  }

  @Get(':session_id/events')
  @ApiOperation({ summary: "The session's history: webhooks received and polls made, newest first" })
  @ApiOkResponse({ type: SessionEventPageView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ErrorCode.SESSION_NOT_FOUND, ...AUTH_ERRORS)
  events(@Param('session_id', SessionIdPipe) sessionId: string, @Query() query: ListEventsQuery): Promise<SessionEventPageView> {
    return this.sessions.events(sessionId, query);
  }

  @Post(':session_id/reconcile')
  @HttpCode(200)
  @ApiOperation({ summary: 'Poll FinBox for the session now and return it updated' })
  @ApiOkResponse({ type: SessionView })
  @ApiErrors(ErrorCode.VALIDATION_FAILED, ErrorCode.SESSION_NOT_FOUND, ErrorCode.UPSTREAM_UNAVAILABLE, ...AUTH_ERRORS)
  reconcile(@Param('session_id', SessionIdPipe) sessionId: string): Promise<SessionView> {
    return this.sessions.reconcileNow(sessionId);
  }
}
