// `cars explain --sql`: one query that only reads, or a message saying why not. (The READ ONLY
// transaction it then runs in is the real guard: test/integration/explain.test.ts.)
import { describe, expect, it } from 'vitest';
import { readQueryProblem, stripLiterals } from '../../src/explain/read-only.js';

describe('readQueryProblem', () => {
  it.each([
    'select 1',
    'SELECT * FROM cars WHERE vin = $1',
    '  select 1 ;  ',
    'select 1;;',
    'with t as (select 1) select * from t',
    'values (1), (2)',
    'table cars',
    "select 'delete from cars; drop table cars'",
    'select $$ ; insert into x $$ as body',
    'select $tag$ ; update $ $tag$',
    `select "update", "a;b" from cars`,
    "select E'it\\'s ; delete'",
    'select 1 -- ; delete from cars\n',
    'select /* ; delete /* nested ; */ still comment */ 1',
    'select updated_at, deleted, inserted_by from cars',
    "select substring(vin for 3) from cars",
    // Names inside string constants are not calls; a quoted name that is not one of them is fine.
    "select 'set_config' as word, current_setting('work_mem')",
    `select "Brand" from cars`,
    "select U&'\\0041' as a",
  ])('accepts %j', (q) => {
    expect(readQueryProblem(q)).toBeNull();
  });

  it.each([
    ['delete from cars', /starts with DELETE/],
    ['update cars set price = 0', /starts with UPDATE/],
    ['insert into cars default values', /starts with INSERT/],
    ['truncate cars', /starts with TRUNCATE/],
    ['explain select 1', /starts with EXPLAIN/],
    ['select 1; delete from cars', /more than one statement/],
    ['select 1; select 2', /more than one statement/],
    ['with gone as (delete from cars returning *) select count(*) from gone', /contains DELETE/],
    ['with u as (update cars set price = 1 returning id) select * from u', /contains UPDATE/],
    ['WITH x AS (INSERT INTO runs (command) VALUES ($1) RETURNING id) SELECT id FROM x', /contains INSERT/],
    ['with m as (merge into cars using x on true when matched then delete) select 1', /contains MERGE/],
    ['select * from cars for update', /locks rows/],
    ['select * from cars for no key update', /locks rows/],
    ['select * from cars for share', /locks rows/],
    ['select * into copy_of_cars from cars', /INTO/],
    ['', /is empty/],
    ['  ;  ', /is empty/],
    ['-- nothing', /is empty/],
    ["'select'", /starts with/],
    // Ways out of the reader role: set_config('role', ...), or SQL run from text that calls it.
    ["select set_config('role', 'postgres', true)", /calls set_config\(\)/],
    ["SELECT PG_CATALOG.SET_CONFIG('role', 'none', true)", /calls set_config\(\)/],
    [`select "set_config"('role', 'none', true)`, /calls set_config\(\)/],
    [`select pg_catalog."SET_CONFIG"('role', 'none', true)`, /calls set_config\(\)/],
    ["select query_to_xml('select 1', true, false, '')", /calls query_to_xml\(\)/],
    ["select query_to_xml_and_xmlschema('select 1', true, false, '')", /calls query_to_xml_and_xmlschema\(\)/],
    ["select * from ts_stat('select to_tsvector(''x'')')", /calls ts_stat\(\)/],
    ["select ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery')", /calls ts_rewrite\(\)/],
    [`select U&"\\0073et_config"('role', 'none', true)`, /Unicode escapes/],
  ])('refuses %j', (q, why) => {
    expect(readQueryProblem(q)).toMatch(why);
  });
});

describe('stripLiterals', () => {
  it.each([
    ["a 'x;y' b", "a '' b"],
    ["a 'it''s' b", "a '' b"],
    ['a "we;ird""id" b', 'a "x" b'],
    ['a $$x;y$$ b', "a '' b"],
    ['a $q$ $$ ; $q$ b', "a '' b"],
    ['a $1 b', 'a $1 b'],
    ['a -- c ;\nb', 'a  \nb'],
    ['a /* x /* y */ z */ b', 'a   b'],
    // An E right after a word is part of the word, not an escape-string prefix: 'a\' ends there.
    ["somee'a\\' b", "somee'' b"],
  ])('%j', (input, want) => {
    expect(stripLiterals(input)).toBe(want);
  });

  it('hands out quoted names, unescaped, and null for a U&"..." one', () => {
    const quoted: Array<string | null> = [];
    stripLiterals('select "a""b", U&"\\0061", \'"no"\' from "cars"', quoted);
    expect(quoted).toEqual(['a"b', null, 'cars']);
  });
});
