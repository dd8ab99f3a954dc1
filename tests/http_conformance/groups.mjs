// Prints the suite's test groups as JSON: [{id, name, tests: [test id, ...]}, ...].
// A group is a module under tests/ whose default export has an `id` and a `tests` array (as tests/index.mjs
// lists them, plus those the cli adds by itself, e.g. surrogate-control in 0.4.5). The groups in
// tests/index.mjs come first, in its order; the others follow by file name.
// Usage: node groups.mjs SUITE_ROOT
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const root = process.argv[2]
const testsDir = path.join(root, 'tests')
const load = async file => (await import(pathToFileURL(path.join(testsDir, file)).href)).default
const isGroup = value => value !== null && typeof value === 'object' && typeof value.id === 'string' &&
  Array.isArray(value.tests)

const ordered = (await load('index.mjs')).filter(isGroup)
const files = fs.readdirSync(testsDir).filter(name => name.endsWith('.mjs') && name !== 'index.mjs').sort()
for (const file of files) {
  const value = await load(file)
  if (isGroup(value) && !ordered.includes(value)) ordered.push(value)
}
const groups = ordered.map(group => ({
  id: group.id,
  name: group.name,
  tests: group.tests.map(test => test.id)
}))
console.log(JSON.stringify(groups))
