// The Express app, apart from listening (server.ts): routes, security and the one error middleware.
import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import { createContext, type AppDeps } from './context'
import { HttpError } from './http-error'
import { errorHandler } from './middleware/error-handler'
import { rememberMount, requestContext } from './middleware/request-context'
import { adminRouter } from './routes/admin'
import { batchRoutes } from './routes/batch'
import { healthRoute, metricsRoute, readyRoute } from './routes/health'
import { messageRoute } from './routes/messages'
import { settingsRoute } from './routes/settings'
import { createCors } from './security/cors'

export type { AppDeps }

export function createApp(deps: AppDeps): Express {
  const cors = createCors(deps.config.writeKeys)
  const ctx = createContext(deps, cors)
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  app.set('trust proxy', deps.config.server.trustProxy)
  app.set('query parser', 'simple')

  app.use(requestContext(deps.logger, deps.metrics))

  app.get('/healthz', healthRoute())
  app.get('/readyz', readyRoute(ctx))
  app.get('/metrics', metricsRoute(ctx))

  const v1 = express.Router()
  v1.use(cors.middleware)
  v1.use((req: Request, res: Response, next: NextFunction) => {
    ctx.limitIp(req, res)
    next()
  })
  v1.get('/settings', settingsRoute(ctx))
  v1.post('/batch', ...batchRoutes(ctx))
  v1.get('/messages/:messageId', messageRoute(ctx))
  app.use('/v1', rememberMount, v1)

  app.use('/admin', rememberMount, adminRouter(ctx))

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new HttpError('NOT_FOUND', 404, `No route ${req.method} ${req.path.slice(0, 100)}`))
  })
  app.use(errorHandler(deps.logger, deps.metrics, deps.config.server.maxBodyBytes))
  return app
}
