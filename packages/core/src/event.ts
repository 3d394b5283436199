// The parts of a Segment event that mappings and triggers read. Deliberately loose: events come from
// analytics-next, analytics-node or a JSON body, and mappings may read any path.

export type JSONPrimitive = string | number | boolean | null
export type JSONValue = JSONPrimitive | JSONObject | JSONValue[]
export interface JSONObject {
  [key: string]: JSONValue | undefined
}

export interface SegmentEvent {
  type?: string
  event?: string
  name?: string
  userId?: string | null
  anonymousId?: string | null
  messageId?: string
  timestamp?: string | Date
  properties?: Record<string, unknown>
  traits?: Record<string, unknown>
  context?: Record<string, unknown>
  integrations?: Record<string, unknown>
  [key: string]: unknown
}
