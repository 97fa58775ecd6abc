import { describe, expect, it } from 'vitest';
import { CAR_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, validateCar, validatePrice, validateVin, type CarRow } from '../../src/car.js';

const MAX_YEAR = 2027;
const GOOD: Record<string, string> = {
  vin: '1HGCM82633A004352',
  brand: 'Honda',
  model: 'Accord',
  year: '2003',
  price: '12500',
  mileage: '120000',
  condition: 'available',
  color: 'Silver',
  listed_at: '2024-03-01',
};

/** The good record with some fields replaced (undefined removes the field). */
function car(over: Record<string, string | undefined>) {
  const rec: Record<string, string | undefined> = { ...GOOD, ...over };
  for (const k of Object.keys(over)) if (over[k] === undefined) delete rec[k];
  return validateCar(rec, { maxYear: MAX_YEAR });
}

function row(over: Record<string, string | undefined>): CarRow {
  const v = car(over);
  if (!v.ok) throw new Error(`expected a valid row, got: ${v.error}`);
  return v.row;
}

function error(over: Record<string, string | undefined>): string {
  const v = car(over);
  if (v.ok) throw new Error(`expected a rejection, got ${JSON.stringify(v.row)}`);
  return v.error;
}

const A200 = 'a'.repeat(200);
const A201 = 'a'.repeat(201);
const CAR200 = '🚗'.repeat(200); // 400 UTF-16 units, 200 characters
const CAR201 = '🚗'.repeat(201);

describe('columns', () => {
  it('lists the required columns, then the optional ones', () => {
    expect(REQUIRED_COLUMNS).toEqual(['vin', 'brand', 'model', 'year', 'price']);
    expect(OPTIONAL_COLUMNS).toEqual(['mileage', 'condition', 'color', 'listed_at']);
    expect(CAR_COLUMNS).toEqual(['vin', 'brand', 'model', 'year', 'price', 'mileage', 'condition', 'color', 'listed_at']);
  });
});

describe('a good record', () => {
  it('becomes a typed row', () => {
    expect(car({})).toEqual({
      ok: true,
      row: { vin: '1HGCM82633A004352', brand: 'Honda', model: 'Accord', year: 2003, price: '12500', mileage: 120000, condition: 'available', color: 'Silver', listed_at: '2024-03-01' },
    });
  });

  it('needs only the required columns; missing optional ones are empty', () => {
    const rec = { vin: GOOD.vin, brand: 'Honda', model: 'Accord', year: '2003', price: '12500' };
    expect(validateCar(rec, { maxYear: MAX_YEAR })).toEqual({
      ok: true,
      row: { vin: GOOD.vin, brand: 'Honda', model: 'Accord', year: 2003, price: '12500', mileage: null, condition: 'available', color: null, listed_at: null },
    });
  });

  it('ignores columns it does not know', () => {
    expect(validateCar({ ...GOOD, dealer_note: 'call Bob, he knows' }, { maxYear: MAX_YEAR }).ok).toBe(true);
  });
});

describe('vin', () => {
  it.each([
    ['1HGCM82633A004352', '1HGCM82633A004352'],
    ['1hgcm82633a004352', '1HGCM82633A004352'],
    ['  1HGCM82633A004352\t', '1HGCM82633A004352'],
    ['12345678901234567', '12345678901234567'],
    ['ABCDEFGHJKLMNPRST', 'ABCDEFGHJKLMNPRST'],
    ['UVWXYZ01234567890', 'UVWXYZ01234567890'],
  ])('accepts %j as %s', (input, vin) => {
    expect(validateVin(input)).toEqual({ ok: true, vin });
    expect(row({ vin: input }).vin).toBe(vin);
  });

  it.each([
    ['', 'vin is required'],
    ['   ', 'vin is required'],
    [undefined, 'vin is required'],
    ['ABC', 'vin "ABC" must be 17 characters, got 3'],
    ['1HGCM82633A00435', 'vin "1HGCM82633A00435" must be 17 characters, got 16'],
    ['1HGCM82633A0043521', 'vin "1HGCM82633A0043521" must be 17 characters, got 18'],
    ['1HGCM82633AOO4352', 'vin "1HGCM82633AOO4352" contains I, O or Q, which VINs never use'],
    ['1HGCM82633A0I4352', 'vin "1HGCM82633A0I4352" contains I, O or Q, which VINs never use'],
    ['1hgcm82633a0q4352', 'vin "1hgcm82633a0q4352" contains I, O or Q, which VINs never use'],
    ['1HGCM82633A00435-', 'vin "1HGCM82633A00435-" contains "-"; a VIN has only digits and the letters A-Z except I, O and Q'],
    ['1HGCM 2633A004352', 'vin "1HGCM 2633A004352" contains " "; a VIN has only digits and the letters A-Z except I, O and Q'],
    // Upper-casing must not turn other letters into VIN letters: ſ becomes S, ß becomes SS.
    ['1HGCM82633A00435ſ', 'vin "1HGCM82633A00435ſ" contains "ſ"; a VIN has only digits and the letters A-Z except I, O and Q'],
    ['1HGCM82633A0043ß', 'vin "1HGCM82633A0043ß" must be 17 characters, got 16'],
    ['ŠHGCM82633A004352', 'vin "ŠHGCM82633A004352" contains "Š"; a VIN has only digits and the letters A-Z except I, O and Q'],
    ['X'.repeat(50), `vin "${'X'.repeat(40)}…" must be 17 characters, got 50`],
  ])('rejects %j', (input, message) => {
    expect(validateVin(input)).toEqual({ ok: false, error: message });
    expect(error({ vin: input })).toBe(message);
  });
});

describe('brand, model and color', () => {
  it.each([
    ['brand', 'Škoda', 'Škoda'],
    ['brand', 'Mercedes-Benz', 'Mercedes-Benz'],
    ['brand', '  Toyota  ', 'Toyota'],
    ['brand', A200, A200],
    ['brand', CAR200, CAR200],
    ['model', "Robert'); DROP TABLE cars;--", "Robert'); DROP TABLE cars;--"],
    ['model', "'; DROP TABLE cars; --", "'; DROP TABLE cars; --"],
    ['model', 'Robert"); DELETE FROM cars;--', 'Robert"); DELETE FROM cars;--'],
    ['model', 'Model S, Plaid', 'Model S, Plaid'],
    ['model', 'F-150 "Lightning"', 'F-150 "Lightning"'],
    ['model', 'Model  S', 'Model  S'],
    ['model', 'Golf\nGTI', 'Golf\nGTI'],
    ['model', '$$; DROP TABLE cars; $$', '$$; DROP TABLE cars; $$'],
    ['model', A200, A200],
    ['color', '\\N', '\\N'],
    ['color', 'C:\\temp', 'C:\\temp'],
    ['color', '100% Grey_Blue', '100% Grey_Blue'],
    ['color', ' Pearl White ', 'Pearl White'],
    ['color', 'Žlutá', 'Žlutá'],
    ['color', A200, A200],
    ['color', CAR200, CAR200],
    ['color', '', null],
    ['color', '   ', null],
    ['color', undefined, null],
  ])('%s %j is stored as %j', (field, input, stored) => {
    expect(row({ [field]: input })[field as keyof CarRow]).toBe(stored);
  });

  it.each([
    ['brand', '', 'brand is required'],
    ['brand', '  ', 'brand is required'],
    ['brand', undefined, 'brand is required'],
    ['model', '', 'model is required'],
    ['model', undefined, 'model is required'],
    ['brand', A201, `brand "${'a'.repeat(40)}…" is 201 characters long; at most 200 are allowed`],
    ['model', A201, `model "${'a'.repeat(40)}…" is 201 characters long; at most 200 are allowed`],
    ['color', A201, `color "${'a'.repeat(40)}…" is 201 characters long; at most 200 are allowed`],
    ['brand', CAR201, `brand "${'🚗'.repeat(40)}…" is 201 characters long; at most 200 are allowed`],
    ['model', 'Golf\0', 'model "Golf\\u0000" contains a NUL character, which the database cannot store'],
  ])('%s %j is rejected', (field, input, message) => {
    expect(error({ [field]: input })).toBe(message);
  });
});

describe('year', () => {
  it.each([
    ['1886', 1886],
    ['2003', 2003],
    [String(MAX_YEAR), MAX_YEAR],
    [' 2020 ', 2020],
  ])('accepts %j', (input, year) => {
    expect(row({ year: input }).year).toBe(year);
  });

  it.each([
    ['', 'year is required'],
    [undefined, 'year is required'],
    ['1885', 'year "1885" must be between 1886 and 2027'],
    ['1700', 'year "1700" must be between 1886 and 2027'],
    [String(MAX_YEAR + 1), 'year "2028" must be between 1886 and 2027'],
    ['-2020', 'year "-2020" must be between 1886 and 2027'],
    ['2020.0', 'year "2020.0" is not a whole number; it must be between 1886 and 2027'],
    ['20x9', 'year "20x9" is not a whole number; it must be between 1886 and 2027'],
    ["'03", `year "'03" is not a whole number; it must be between 1886 and 2027`],
  ])('rejects %j', (input, message) => {
    expect(error({ year: input })).toBe(message);
  });

  it('takes the upper bound from the caller', () => {
    expect(validateCar({ ...GOOD, year: '2030' }, { maxYear: 2031 }).ok).toBe(true);
    expect(validateCar({ ...GOOD, year: '2030' }, { maxYear: 2029 }).ok).toBe(false);
  });
});

describe('price', () => {
  it.each([
    ['0', '0'],
    ['0.00', '0'],
    ['000', '0'],
    ['0.01', '0.01'],
    ['12500', '12500'],
    ['12500.50', '12500.50'],
    ['12500.5', '12500.50'],
    ['12500.05', '12500.05'],
    ['12500.00', '12500'],
    ['12500.0', '12500'],
    ['0012500', '12500'],
    [' 12500 ', '12500'],
    ['9999999999', '9999999999'],
    ['9999999999.99', '9999999999.99'],
  ])('accepts %j as %s', (input, price) => {
    expect(validatePrice(input)).toEqual({ ok: true, price });
    expect(row({ price: input }).price).toBe(price);
  });

  it.each([
    ['', 'price is required'],
    ['  ', 'price is required'],
    [undefined, 'price is required'],
    ['$12,500', 'price "$12,500" has a currency sign; write a plain number like 12500'],
    ['$12500', 'price "$12500" has a currency sign; write a plain number like 12500'],
    ['€12.500,00', 'price "€12.500,00" has a currency sign; write a plain number like 12500'],
    ['£9,999.99', 'price "£9,999.99" has a currency sign; write a plain number like 9999.99'],
    ['12500 €', 'price "12500 €" has a currency sign; write a plain number like 12500'],
    ['12500 EUR', 'price "12500 EUR" has a currency sign; write a plain number like 12500'],
    ['USD 12,500.50', 'price "USD 12,500.50" has a currency sign; write a plain number like 12500.50'],
    ['12500usd', 'price "12500usd" has a currency sign; write a plain number like 12500'],
    ['12 500 Kč', 'price "12 500 Kč" has a currency sign; write a plain number like 12500'],
    ['12,500', 'price "12,500" has a thousands separator; write a plain number like 12500'],
    ['1,234,567.89', 'price "1,234,567.89" has a thousands separator; write a plain number like 1234567.89'],
    ['12.500,00', 'price "12.500,00" has a thousands separator; write a plain number like 12500'],
    ['12 500', 'price "12 500" has a thousands separator; write a plain number like 12500'],
    ['12\u00a0500,50', 'price "12\u00a0500,50" has a thousands separator; write a plain number like 12500.50'],
    ["12'500", `price "12'500" has a thousands separator; write a plain number like 12500`],
    ['1.234.567', 'price "1.234.567" has a thousands separator; write a plain number like 1234567'],
    ['12,345,678,901', 'price "12,345,678,901" has a thousands separator; write a plain number like 12500'],
    ['12.345', 'price "12.345" has more than 2 decimals (or "." separates thousands; then write 12345)'],
    ['12.3456', 'price "12.3456" has more than 2 decimals'],
    ['12500,50', 'price "12500,50" uses a comma as the decimal mark; import with --decimal , (or write 12500.50)'],
    ['-1', 'price "-1" is negative; it must be 0 or more'],
    ['-0.01', 'price "-0.01" is negative; it must be 0 or more'],
    ['(500)', 'price "(500)" is negative; it must be 0 or more'],
    ['1e3', 'price "1e3" uses exponent notation; write a plain number like 1000'],
    ['1.25E4', 'price "1.25E4" uses exponent notation; write a plain number like 12500'],
    ['1e-5', 'price "1e-5" uses exponent notation; write a plain number'],
    ['10000000000', 'price "10000000000" is too large; it must be below 10000000000'],
    ['10000000000.00', 'price "10000000000.00" is too large; it must be below 10000000000'],
    ['+12500', 'price "+12500" has a sign; write a plain number like 12500'],
    ['.5', 'price ".5" is not a plain number; write it like 0.50'],
    ['12500.', 'price "12500." is not a plain number; write it like 12500'],
    ['abc', 'price "abc" is not a number; write a plain number like 12500 or 12500.50'],
    ['NaN', 'price "NaN" is not a number; write a plain number like 12500 or 12500.50'],
    ['0x10', 'price "0x10" is not a number; write a plain number like 12500 or 12500.50'],
  ])('rejects %j', (input, message) => {
    expect(validatePrice(input)).toEqual({ ok: false, error: message });
    expect(error({ price: input })).toBe(message);
  });
});

describe('mileage', () => {
  it.each([
    ['0', 0],
    ['120000', 120000],
    [' 120000 ', 120000],
    ['2147483647', 2147483647],
    ['', null],
    ['  ', null],
    [undefined, null],
  ])('accepts %j as %j', (input, mileage) => {
    expect(row({ mileage: input }).mileage).toBe(mileage);
  });

  it.each([
    ['-5', 'mileage "-5" is negative; it must be 0 or more'],
    ['2147483648', 'mileage "2147483648" is too large; it must be at most 2147483647'],
    ['12,000', 'mileage "12,000" has a thousands separator; write a whole number like 12000'],
    ['120 000', 'mileage "120 000" has a thousands separator; write a whole number like 120000'],
    ['12000 km', 'mileage "12000 km" has a unit; write the number only, like 12000'],
    ['12000.5', 'mileage "12000.5" is not a whole number'],
    ['1e5', 'mileage "1e5" is not a whole number'],
    ['lots', 'mileage "lots" is not a whole number'],
  ])('rejects %j', (input, message) => {
    expect(error({ mileage: input })).toBe(message);
  });
});

describe('condition', () => {
  it.each([
    ['available', 'available'],
    ['sold', 'sold'],
    ['reserved', 'reserved'],
    ['SOLD', 'sold'],
    [' Reserved ', 'reserved'],
    ['Available', 'available'],
    ['', 'available'],
    [' ', 'available'],
    [undefined, 'available'],
  ])('accepts %j as %s', (input, condition) => {
    expect(row({ condition: input }).condition).toBe(condition);
  });

  it.each([
    ['broken', 'condition "broken" must be available, sold or reserved'],
    [' New ', 'condition "New" must be available, sold or reserved'],
    ['sold out', 'condition "sold out" must be available, sold or reserved'],
  ])('rejects %j', (input, message) => {
    expect(error({ condition: input })).toBe(message);
  });
});

describe('listed_at', () => {
  it.each([
    ['2024-03-01', '2024-03-01'],
    [' 2024-03-01 ', '2024-03-01'],
    ['2024-02-29', '2024-02-29'],
    ['2000-02-29', '2000-02-29'],
    ['2024-12-31', '2024-12-31'],
    ['2024-03-01T10:00:00Z', '2024-03-01T10:00:00Z'],
    ['2024-03-01T10:00:00', '2024-03-01T10:00:00'],
    ['2024-03-01T10:00', '2024-03-01T10:00'],
    ['2024-03-01 10:00:00+02', '2024-03-01 10:00:00+02'],
    ['2024-03-01T10:00:00+05:30', '2024-03-01T10:00:00+05:30'],
    ['2024-03-01T10:00:00-0800', '2024-03-01T10:00:00-0800'],
    ['2024-03-01T10:00:00.5Z', '2024-03-01T10:00:00.5Z'],
    ['2024-03-01T23:59:59.123456+00:00', '2024-03-01T23:59:59.123456+00:00'],
    ['', null],
    [undefined, null],
  ])('accepts %j', (input, listed) => {
    expect(row({ listed_at: input }).listed_at).toBe(listed);
  });

  it.each([
    ['2023-02-29', 'listed_at "2023-02-29" is not a real calendar date'],
    ['1900-02-29', 'listed_at "1900-02-29" is not a real calendar date'],
    ['2024-02-30', 'listed_at "2024-02-30" is not a real calendar date'],
    ['2024-04-31', 'listed_at "2024-04-31" is not a real calendar date'],
    ['2024-13-01', 'listed_at "2024-13-01" is not a real calendar date'],
    ['2024-00-10', 'listed_at "2024-00-10" is not a real calendar date'],
    ['2024-01-00', 'listed_at "2024-01-00" is not a real calendar date'],
    ['0000-01-01', 'listed_at "0000-01-01" is not a real calendar date'],
    ['2024-02-30T10:00:00Z', 'listed_at "2024-02-30T10:00:00Z" is not a real calendar date'],
    ['2024-03-01T24:00:00Z', 'listed_at "2024-03-01T24:00:00Z" has an impossible time of day'],
    ['2024-03-01T10:60:00Z', 'listed_at "2024-03-01T10:60:00Z" has an impossible time of day'],
    ['2024-03-01T10:00:61', 'listed_at "2024-03-01T10:00:61" has an impossible time of day'],
    ['2024-03-01T10:00:00+16', 'listed_at "2024-03-01T10:00:00+16" has an impossible UTC offset'],
    ['01/03/2024', 'listed_at "01/03/2024" is not an ISO 8601 date or timestamp (like 2024-03-01 or 2024-03-01T10:00:00Z)'],
    ['2024-3-1', 'listed_at "2024-3-1" is not an ISO 8601 date or timestamp (like 2024-03-01 or 2024-03-01T10:00:00Z)'],
    ['20240301', 'listed_at "20240301" is not an ISO 8601 date or timestamp (like 2024-03-01 or 2024-03-01T10:00:00Z)'],
    ['2024-03-01T10', 'listed_at "2024-03-01T10" is not an ISO 8601 date or timestamp (like 2024-03-01 or 2024-03-01T10:00:00Z)'],
    ['yesterday', 'listed_at "yesterday" is not an ISO 8601 date or timestamp (like 2024-03-01 or 2024-03-01T10:00:00Z)'],
  ])('rejects %j', (input, message) => {
    expect(error({ listed_at: input })).toBe(message);
  });
});

describe('several bad fields', () => {
  it('reports all of them in column order, joined by "; "', () => {
    expect(error({ vin: 'ABC', year: '1700', price: '$12,500', condition: 'broken' })).toBe(
      'vin "ABC" must be 17 characters, got 3; year "1700" must be between 1886 and 2027; ' +
        'price "$12,500" has a currency sign; write a plain number like 12500; condition "broken" must be available, sold or reserved',
    );
  });

  it('treats an empty record as every required field missing', () => {
    expect(validateCar({}, { maxYear: MAX_YEAR })).toEqual({
      ok: false,
      error: 'vin is required; brand is required; model is required; year is required; price is required',
    });
  });
});

describe('price with a decimal comma (--decimal ,)', () => {
  it.each([
    ['12500,50', '12500.50'],
    ['12500,5', '12500.50'],
    ['12500', '12500'],
    ['0,00', '0'],
    [' 012500,05 ', '12500.05'],
  ])('accepts %j as %j', (input, price) => {
    expect(validatePrice(input, ',')).toEqual({ ok: true, price });
  });

  it.each([
    ['12500.50', 'price "12500.50" has "." as the decimal mark, but --decimal , says prices use ","; write 12500,50'],
    ['12.500,50', 'price "12.500,50" has a thousands separator; write a plain number like 12500,50'],
    ['12,500', 'price "12,500" has more than 2 decimals (or "," separates thousands; then write 12500)'],
    ['€ 12500,50', 'price "€ 12500,50" has a currency sign; write a plain number like 12500,50'],
  ])('rejects %j', (input, error) => {
    expect(validatePrice(input, ',')).toEqual({ ok: false, error });
  });
});

describe('rules at their edges', () => {
  it.each([['-0'], ['-0.00'], ['-00.0']])('price %j is 0', (p) => expect(validatePrice(p)).toEqual({ ok: true, price: '0' }));
  it('price -0,00 is 0 with --decimal ,', () => expect(validatePrice('-0,00', ',')).toEqual({ ok: true, price: '0' }));
  it('price -1 is still negative', () => expect(validatePrice('-1')).toEqual({ ok: false, error: 'price "-1" is negative; it must be 0 or more' }));
  it('0.001 has three decimals, and the message suggests nothing odd', () => {
    expect(validatePrice('0.001')).toEqual({ ok: false, error: 'price "0.001" has more than 2 decimals' });
  });
  it.each([
    ['1885-12-31', /listed_at "1885-12-31" must be in the years 1886 to 2027/],
    ['0001-01-01', /must be in the years 1886/],
    ['2028-01-01', /must be in the years 1886 to 2027/],
  ])('listed_at %j is out of range', (d, e) => {
    const r = validateCar({ vin: '1HGCM82633A004352', brand: 'Honda', model: 'Civic', year: '2019', price: '1', listed_at: d }, { maxYear: 2027 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(e);
  });
  it('listed_at 1886-01-29 and mileage -0 are fine', () => {
    const r = validateCar({ vin: '1HGCM82633A004352', brand: 'Honda', model: 'Civic', year: '2019', price: '1', listed_at: '1886-01-29', mileage: '-0' }, { maxYear: 2027 });
    expect(r.ok && r.row.mileage).toBe(0);
  });
});
