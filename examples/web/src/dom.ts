// A tiny element builder: enough for a demo page without a framework.
import { RelayError } from '@qualtrics-relay/core'

export type Child = Node | string | number | false | null | undefined | Child[]

export type Props = Record<string, string | number | boolean | undefined | ((event: Event) => void)>

/** `h('button', { class: 'primary', onclick: go }, 'Buy')`. Attributes with `false`/`undefined` are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(props ?? {})) {
    if (typeof value === 'function') {
      element.addEventListener(name.replace(/^on/, ''), value)
    } else if (name === 'value' && 'value' in element) {
      ;(element as HTMLInputElement).value = String(value ?? '')
    } else if (value === true) {
      element.setAttribute(name, '')
    } else if (value !== false && value !== undefined) {
      element.setAttribute(name, String(value))
    }
  }
  append(element, children)
  return element
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (Array.isArray(child)) append(parent, child)
    else if (child instanceof Node) parent.appendChild(child)
    else if (child !== false && child !== null && child !== undefined) {
      parent.appendChild(document.createTextNode(String(child)))
    }
  }
}

/** Replaces the children of `parent`. */
export function mount(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, children)
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id)
  if (element === null) throw new RelayError('CONFIG_INVALID', `The page has no element #${id}`)
  return element as T
}

/** JSON for people: two-space indented. */
export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'undefined'
}

export function timeOf(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString([], { hour12: false })
}
