// The contacts map, indexed by merge-rule keys so a create finds its merge candidates without a scan.

import type { ContactRecord, MergeField, MergeRule } from './types'

/** A rule's key for a contact: its fields lower-cased, as findMergeMatch compares them; none if one is missing. */
function ruleKey(
  directoryId: string,
  rule: MergeRule,
  values: Partial<Record<MergeField, string>>,
): string | undefined {
  const parts: string[] = [directoryId]
  for (const field of rule) {
    const value = values[field]
    if (value === undefined) return undefined
    parts.push(value.toLowerCase())
  }
  return JSON.stringify(parts)
}

/**
 * A Map of contacts that also keeps, per merge rule in use, the ids of the contacts holding each key.
 * Entries may go stale (a field changed, a record replaced): lookups re-check every candidate, so a
 * stale entry never merges wrongly; `reindex` must be called after a contact's fields change so a
 * contact is found under its new values. Insertion order is kept as a sequence number because the
 * oldest matching contact wins, as in a scan of the map.
 */
export class ContactMap extends Map<string, ContactRecord> {
  private sequence = new Map<string, number>()
  private nextSequence = 0
  /** Keyed by the rule's field list, built on the first lookup with that rule. */
  private byRule = new Map<string, Map<string, Set<string>>>()

  override set(id: string, contact: ContactRecord): this {
    if (!this.sequence.has(id)) this.sequence.set(id, this.nextSequence++)
    super.set(id, contact)
    this.reindex(contact)
    return this
  }

  override delete(id: string): boolean {
    this.sequence.delete(id)
    return super.delete(id)
  }

  override clear(): void {
    this.sequence.clear()
    this.byRule.clear()
    super.clear()
  }

  /** Records a contact under its current values for every indexed rule. */
  reindex(contact: ContactRecord): void {
    for (const [signature, keys] of this.byRule)
      addKey(keys, ruleKey(contact.directoryId, JSON.parse(signature) as MergeRule, contact), contact.id)
  }

  /** The oldest contact of the directory whose rule fields equal the input's ignoring case. */
  oldestMatch(
    directoryId: string,
    rule: MergeRule,
    input: Partial<Record<MergeField, string>>,
  ): ContactRecord | undefined {
    const key = ruleKey(directoryId, rule, input)
    if (key === undefined) return undefined
    const ids = this.keysOf(rule).get(key)
    if (!ids) return undefined
    let best: ContactRecord | undefined
    let bestSequence = Infinity
    for (const id of ids) {
      const contact = this.get(id)
      if (!contact || ruleKey(contact.directoryId, rule, contact) !== key) {
        ids.delete(id)
        continue
      }
      const sequence = this.sequence.get(id) ?? Infinity
      if (sequence < bestSequence) {
        best = contact
        bestSequence = sequence
      }
    }
    return best
  }

  private keysOf(rule: MergeRule): Map<string, Set<string>> {
    const signature = JSON.stringify(rule)
    let keys = this.byRule.get(signature)
    if (!keys) {
      keys = new Map()
      for (const contact of this.values())
        addKey(keys, ruleKey(contact.directoryId, rule, contact), contact.id)
      this.byRule.set(signature, keys)
    }
    return keys
  }
}

function addKey(keys: Map<string, Set<string>>, key: string | undefined, id: string): void {
  if (key === undefined) return
  const ids = keys.get(key)
  if (ids) ids.add(id)
  else keys.set(key, new Set([id]))
}
