import { Controller, Get, NotFoundException, Param, Req, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ConsoleAssets, type ConsoleAsset } from './console-assets.service.js';

/** Everything the page needs comes from this service: no inline code, no other origin (it must work offline). */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The live console: a page of this service that reads its own `GET /events` stream. Not part of the API docs. */
@ApiExcludeController()
@Controller()
export class ConsoleController {
  constructor(private readonly assets: ConsoleAssets) {}

  @Get()
  root(@Res() res: Response): void {
    this.send(res, this.assets.get('index.html'));
  }

  @Get('console')
  page(@Req() req: Request, @Res() res: Response): void {
    // The page's links are relative (so it works behind a path prefix): `/console/` would resolve them wrongly.
    if (req.path.endsWith('/')) {
      // With its query: `?access_token=` is how a protected stream is opened.
      const query = req.originalUrl.indexOf('?');
      res.redirect(301, query < 0 ? '../console' : `../console${req.originalUrl.slice(query)}`);
      return;
    }
    this.send(res, this.assets.get('index.html'));
  }

  @Get('console/:file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    if (file === 'index.html') throw new NotFoundException(`No console file named ${file}`);
    this.send(res, this.assets.get(file));
  }

  private send(res: Response, asset: ConsoleAsset | undefined): void {
    if (this.assets.missing) throw new ServiceUnavailableException(this.assets.missing);
    if (!asset) throw new NotFoundException('No such console file');
    res.set({
      'Content-Type': asset.contentType,
      'Content-Length': String(asset.body.length),
      // Revalidated on each load, so that a new version of the service is never mixed with old files.
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      // The page's URL may hold an access token: it must not leak to other sites.
      'Referrer-Policy': 'no-referrer',
    });
    res.end(asset.body);
  }
}
