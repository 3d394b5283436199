import { createMemoryStore } from '../../src/server/store/memory-store'
import { describeStoreContract } from './store-contract'

describeStoreContract('memory store', () => createMemoryStore())
