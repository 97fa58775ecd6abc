import { describe, expect, it } from 'vitest';
import { canonicalStoredPrice, checkPriceRow, parseNdjsonLine, scalarText, vinKey } from '../../src/sync/feed-rows.js';
import { priceUrl, readAnswer } from '../../src/sync/from-api.js';
import { apiBase } from '../../src/commands/sync-prices.js';

describe('checkPriceRow', () => {
  it.each([
    ['1HGCM82633A004352', '12500', { ok: true, vin: '1HGCM82633A004352', price: '12500' }],
    [' 1hgcm82633a004352 ', '12500.5', { ok: true, vin: '1HGCM82633A004352', price: '12500.50' }],
    ['1HGCM82633A004352', '0012500.00', { ok: true, vin: '1HGCM82633A004352', price: '12500' }],
    ['1HGCM82633A004352', '0', { ok: true, vin: '1HGCM82633A004352', price: '0' }],
  ])('%j %j is good', (vin, price, want) => {
    expect(checkPriceRow(vin, price)).toEqual(want);
  });

  it.each([
    ['1HGCM82633A00435', '12500', /vin "1HGCM82633A00435" must be 17 characters, got 16/],
    ['1HGCM82633A00435O', '12500', /contains I, O or Q/],
    ['1HGCM82633A004352', '-5', /price "-5" is negative/],
    ['1HGCM82633A004352', '$12,500', /currency sign/],
    ['1HGCM82633A004352', '1e4', /exponent notation/],
    ['1HGCM82633A004352', '12.345', /price "12.345"/],
    ['1HGCM82633A004352', '10000000000', /too large/],
    ['1HGCM82633A004352', '', /price is required/],
    [undefined, undefined, /^vin is required; price is required$/],
    ['BAD', 'x', /^vin "BAD" must be 17 characters, got 3; price "x"/],
  ])('%j %j is rejected: %s', (vin, price, error) => {
    const r = checkPriceRow(vin, price);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it('shards a row by the VIN as stored, or the text given', () => {
    expect(vinKey(' 1hgcm82633a004352 ')).toBe('1HGCM82633A004352');
    expect(vinKey('bad')).toBe('BAD');
    expect(vinKey(undefined)).toBe('');
  });

  it('compares stored numeric(12,2) text with canonical prices', () => {
    expect(canonicalStoredPrice('12500.00')).toBe('12500');
    expect(canonicalStoredPrice('12500.50')).toBe('12500.50');
    expect(canonicalStoredPrice('0.00')).toBe('0');
    expect(canonicalStoredPrice('100.05')).toBe('100.05');
  });
});

describe('NDJSON feed lines', () => {
  it.each([
    ['{"vin":"1HGCM82633A004352","price":12500}', { vin: '1HGCM82633A004352', price: '12500' }],
    ['{"vin":"1HGCM82633A004352","price":"12500.50"}', { vin: '1HGCM82633A004352', price: '12500.50' }],
    ['{"price": 99.5, "vin": "x", "other": 1}', { vin: 'x', price: '99.5' }],
    ['{"vin":"1HGCM82633A004352"}', { vin: '1HGCM82633A004352', price: undefined }],
    ['{"vin":"1HGCM82633A004352","price":null}', { vin: '1HGCM82633A004352', price: undefined }],
    ['{"vin":"1HGCM82633A004352","price":{"amount":1}}', { vin: '1HGCM82633A004352', price: '{"amount":1}' }],
  ])('%s', (line, want) => {
    expect(parseNdjsonLine(line)).toEqual(want);
  });

  it.each([
    ['{"vin":', /^not valid JSON/],
    ['[1,2]', /expected a JSON object .* got an array/],
    ['null', /got null/],
    ['12', /got number/],
  ])('%s is not a row', (line, error) => {
    expect(parseNdjsonLine(line).error).toMatch(error);
  });

  it('a price given as a JSON number keeps the text the feed wrote, as in cars import', () => {
    expect(parseNdjsonLine('{"vin":"1HGCM82633A004352","price":12500.50}').price).toBe('12500.50');
    const exp = parseNdjsonLine('{"vin":"1HGCM82633A004352","price":1e3}');
    expect(exp.price).toBe('1e3');
    expect(checkPriceRow(exp.vin, exp.price)).toEqual({ ok: false, error: expect.stringMatching(/price "1e3" uses exponent notation; write a plain number like 1000/) });
    expect(parseNdjsonLine('{"vin":12,"price":"5"}')).toEqual({ vin: '12', price: '5' });
  });

  it('a price given as a JSON number goes through the same price rules', () => {
    expect(checkPriceRow('1HGCM82633A004352', scalarText(1e21)).ok).toBe(false);
    expect(checkPriceRow('1HGCM82633A004352', scalarText(12500.25))).toEqual({ ok: true, vin: '1HGCM82633A004352', price: '12500.25' });
  });
});

describe('price service answers', () => {
  const vin = '1HGCM82633A004352';
  it.each([
    [{ vin, price: 12500 }, { ok: true, price: '12500' }],
    [{ price: '12500.5' }, { ok: true, price: '12500.50' }],
    [{ vin: vin.toLowerCase(), price: 1 }, { ok: true, price: '1' }],
  ])('%j is a price', (data, want) => {
    expect(readAnswer(vin, data)).toEqual(want);
  });

  it.each([
    [{ vin, price: 'abc' }, /the service answered an unusable price: price "abc"/],
    [{ vin, price: -1 }, /unusable price: price "-1" is negative/],
    [{ vin }, /unusable price: price is required/],
    [{ vin: 'JTDPYMZAXL1PYWYK1', price: 1 }, /answered for another VIN \("JTDPYMZAXL1PYWYK1"\)/],
    [[1], /answered an array/],
    [null, /answered null/],
    ['12500', /answered string/],
  ])('%j fails: %s', (data, error) => {
    const r = readAnswer(vin, data);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it('builds the URL of a car from the base', () => {
    expect(priceUrl('https://prices.example.com/v1', vin)).toBe(`https://prices.example.com/v1/cars/${vin}/price`);
  });

  it.each([
    ['https://prices.example.com', 'https://prices.example.com'],
    ['https://prices.example.com/', 'https://prices.example.com'],
    ['http://127.0.0.1:8080/api/v2/', 'http://127.0.0.1:8080/api/v2'],
  ])('--api %s is %s', (given, base) => {
    expect(apiBase(given)).toBe(base);
  });

  it.each([
    ['prices.example.com', /is not a URL/],
    ['ftp://prices.example.com', /only http and https/],
    ['https://prices.example.com/?key=1', /without \?query/],
  ])('--api %s is refused', (given, error) => {
    expect(() => apiBase(given)).toThrow(error);
  });
});
