import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultAnnotationNames,
  parseBoolean,
  parseDuration,
  parseList,
  parsePatterns,
  type Parsed,
} from './annotations.js';

function value<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) assert.fail(`expected a value, got the problem: ${parsed.problem}`);
  return parsed.value;
}

function problem<T>(parsed: Parsed<T>): string {
  if (parsed.ok) assert.fail(`expected a problem, got the value: ${String(parsed.value)}`);
  return parsed.problem;
}

describe('defaultAnnotationNames', () => {
  it("uses Stakater Reloader's names", () => {
    assert.equal(defaultAnnotationNames.auto, 'reloader.stakater.com/auto');
    assert.equal(defaultAnnotationNames.configmapReload, 'configmap.reloader.stakater.com/reload');
    assert.equal(
      defaultAnnotationNames.secretExclude,
      'secrets.exclude.reloader.stakater.com/reload',
    );
    assert.equal(
      defaultAnnotationNames.pausePeriod,
      'deployment.reloader.stakater.com/pause-period',
    );
  });
});

describe('parseBoolean', () => {
  it('accepts "true" and "false", case-insensitive and trimmed', () => {
    assert.equal(value(parseBoolean('true')), true);
    assert.equal(value(parseBoolean('false')), false);
    assert.equal(value(parseBoolean('TRUE')), true);
    assert.equal(value(parseBoolean('False')), false);
    assert.equal(value(parseBoolean('  true ')), true);
  });

  it('refuses anything else, quoting the value', () => {
    for (const raw of ['yes', 'no', '1', '0', '', 'truee', 't']) {
      assert.match(problem(parseBoolean(raw)), /is not a boolean/, raw);
    }
    assert.ok(problem(parseBoolean('yes')).includes('"yes"'));
  });
});

describe('parseList', () => {
  it('splits on commas, trims the blanks and drops empty entries', () => {
    assert.deepEqual(parseList(' a, b ,,c , '), ['a', 'b', 'c']);
  });

  it('returns an empty list for an empty or blank value', () => {
    assert.deepEqual(parseList(''), []);
    assert.deepEqual(parseList(' , ,'), []);
  });

  it('keeps a single entry as it is', () => {
    assert.deepEqual(parseList('app-config'), ['app-config']);
  });
});

describe('parsePatterns', () => {
  it('anchors each entry to match a whole name', () => {
    const [pattern] = value(parsePatterns('app-.*'));
    assert.ok(pattern);
    assert.equal(pattern.test('app-config'), true);
    assert.equal(pattern.test('my-app-config'), false);
    const [exact] = value(parsePatterns('cfg'));
    assert.ok(exact);
    assert.equal(exact.test('cfg'), true);
    assert.equal(exact.test('cfg-2'), false);
    assert.equal(exact.test('a-cfg'), false);
  });

  it('anchors an alternation as a whole', () => {
    const [pattern] = value(parsePatterns('a|b'));
    assert.ok(pattern);
    assert.equal(pattern.test('a'), true);
    assert.equal(pattern.test('b'), true);
    assert.equal(pattern.test('ab'), false);
    assert.equal(pattern.test('xb'), false);
  });

  it('reads a comma list of patterns, trimmed, with empty entries dropped', () => {
    const patterns = value(parsePatterns(' one , two-\\d+ ,, '));
    assert.equal(patterns.length, 2);
    const matches = (name: string): boolean => patterns.some((p) => p.test(name));
    assert.equal(matches('one'), true);
    assert.equal(matches('two-42'), true);
    assert.equal(matches('two-x'), false);
  });

  it('returns no patterns for an empty value', () => {
    assert.deepEqual(value(parsePatterns('')), []);
  });

  it('refuses an invalid regular expression, naming it', () => {
    const text = problem(parsePatterns('good, bad[, other'));
    assert.match(text, /not a valid regular expression/);
    assert.ok(text.includes('"bad["'), text);
  });

  // With a backtracking engine (JavaScript's RegExp), each of these takes time exponential in the
  // length of the name and would not finish: Go's regexp, and re2js, match in linear time.
  it('matches patterns that backtrack catastrophically in linear time (RE2)', () => {
    const [nested] = value(parsePatterns('(a+)+'));
    assert.ok(nested);
    assert.equal(nested.test(`${'a'.repeat(5000)}-x`), false);
    assert.equal(nested.test('a'.repeat(5000)), true);
    const [overlapping] = value(parsePatterns('(x+x+)+y'));
    assert.ok(overlapping);
    assert.equal(overlapping.test('x'.repeat(5000)), false);
    assert.equal(overlapping.test(`${'x'.repeat(5000)}y`), true);
  });

  it('reads Go (RE2) syntax: wildcards, classes, alternation, \\d, flags', () => {
    const matches = (raw: string, name: string): boolean =>
      value(parsePatterns(raw)).some((p) => p.test(name));
    assert.equal(matches('app-.*', 'app-config'), true);
    assert.equal(matches('app-.*', 'my-app-config'), false);
    assert.equal(matches('cfg-[a-c]+', 'cfg-abc'), true);
    assert.equal(matches('cfg-[a-c]+', 'cfg-abd'), false);
    assert.equal(matches('cfg-[^0-9]', 'cfg-x'), true);
    assert.equal(matches('cfg-[^0-9]', 'cfg-1'), false);
    assert.equal(matches('(db|cache)-config', 'cache-config'), true);
    assert.equal(matches('(db|cache)-config', 'web-config'), false);
    assert.equal(matches('web-\\d+', 'web-42'), true);
    assert.equal(matches('web-\\d+', 'web-4x'), false);
    assert.equal(matches('web-\\d{2}', 'web-42'), true);
    assert.equal(matches('web-\\d{2}', 'web-421'), false);
    assert.equal(matches('app\\.config', 'app.config'), true);
    assert.equal(matches('app\\.config', 'app-config'), false);
    assert.equal(matches('app.config', 'app-config'), true, 'an unescaped dot is any character');
    assert.equal(matches('[[:alpha:]]+-\\w+', 'app-v2'), true);
    assert.equal(matches('(?i)APP', 'app'), true);
    assert.equal(matches('(?P<name>app)-(?<env>prod)', 'app-prod'), true);
    assert.equal(matches('^app$', 'app'), true);
  });

  it('compares an entry without metacharacters as a plain name', () => {
    const [plain] = value(parsePatterns('app-config'));
    assert.ok(plain);
    assert.equal(plain.source, 'app-config');
    assert.equal(plain.test('app-config'), true);
    assert.equal(plain.test('app-config-2'), false);
    assert.equal(plain.test('my-app-config'), false);
  });

  it('refuses what JavaScript accepts but Go (RE2) does not, naming the entry', () => {
    for (const entry of ['(a)\\1', '(?=a)a', '(?!b)a', '(?<=a)b', '\\u0041', 'a{1001}']) {
      assert.doesNotThrow(() => new RegExp(entry), 'JavaScript accepts it');
      const text = problem(parsePatterns(`ok, ${entry}`));
      assert.match(text, /not a valid regular expression \(Go RE2 syntax\)/, entry);
      assert.ok(text.includes(`"${entry}"`), text);
    }
    assert.match(problem(parsePatterns('(a)\\1')), /invalid escape sequence/);
  });

  it('compiles each entry alone: an entry cannot close the group that anchors it', () => {
    // As ^(?:a)|(?:.*)$, this would match every name.
    assert.match(problem(parsePatterns('a)|(?:.*')), /not a valid regular expression/);
  });
});

describe('parseDuration', () => {
  it('reads single units', () => {
    assert.equal(value(parseDuration('30s')), 30_000);
    assert.equal(value(parseDuration('5m')), 300_000);
    assert.equal(value(parseDuration('2h')), 7_200_000);
    assert.equal(value(parseDuration('500ms')), 500);
    assert.equal(value(parseDuration('1ms')), 1);
  });

  it('reads compound Go-style durations', () => {
    assert.equal(value(parseDuration('1h30m')), 5_400_000);
    assert.equal(value(parseDuration('1m30s')), 90_000);
    assert.equal(value(parseDuration('1h2m3s4ms')), 3_723_004);
    assert.equal(value(parseDuration('1s500ms')), 1_500);
  });

  it('reads fractions and trims blanks', () => {
    assert.equal(value(parseDuration('1.5h')), 5_400_000);
    assert.equal(value(parseDuration('0.5s')), 500);
    assert.equal(value(parseDuration(' 10s ')), 10_000);
  });

  it('refuses zero, a bare number, words, an empty value and trailing garbage', () => {
    for (const raw of ['0s', '0m0s', '5', 'soon', '', '   ', '5x', '1h30', 'm', '-5s', '5 s']) {
      assert.match(problem(parseDuration(raw)), /is not a duration/, JSON.stringify(raw));
    }
  });

  it('quotes the refused value', () => {
    assert.ok(problem(parseDuration('soon')).includes('"soon"'));
  });
});
