/**
 * The strftime conversions of the C locale, for mosquitto_sub's `@` time specifiers and
 * `%I`. Local time comes from `Date` (the runtime's time zone, `TZ`), or UTC.
 *
 * @module
 */

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** The broken-down time strftime works on. */
export interface BrokenDownTime {
  /** Full year. */
  year: number;
  /** 0..11. */
  month: number;
  /** 1..31. */
  day: number;
  /** 0..23. */
  hour: number;
  /** 0..59. */
  minute: number;
  /** 0..60. */
  second: number;
  /** 0 (Sunday)..6. */
  weekday: number;
  /** Offset east of UTC, in minutes. */
  offset: number;
  /** Time zone abbreviation. */
  zone: string;
  /** Seconds since the epoch. */
  epoch: number;
}

/**
 * Break a time down into calendar fields, in local time or UTC.
 *
 * @example UTC
 * ```ts
 * import assert from "node:assert/strict";
 * import { breakDownTime } from "./_strftime.ts";
 * assert.equal(breakDownTime(0, true).year, 1970);
 * ```
 *
 * @param ms Milliseconds since the epoch.
 * @param utc Whether to use UTC instead of local time.
 * @returns The fields.
 */
export function breakDownTime(ms: number, utc: boolean): BrokenDownTime {
  const d = new Date(ms);
  const epoch = Math.floor(ms / 1000);
  if (utc) {
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth(),
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      weekday: d.getUTCDay(),
      offset: 0,
      zone: "UTC",
      epoch,
    };
  }
  return {
    year: d.getFullYear(),
    month: d.getMonth(),
    day: d.getDate(),
    hour: d.getHours(),
    minute: d.getMinutes(),
    second: d.getSeconds(),
    weekday: d.getDay(),
    offset: -d.getTimezoneOffset(),
    zone: zoneName(d),
    epoch,
  };
}

function zoneName(d: Date): string {
  try {
    const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
      .formatToParts(d)
      .find((p) => p.type === "timeZoneName");
    return part?.value ?? "";
  } catch {
    return "";
  }
}

function pad(n: number, width: number, fill = "0"): string {
  return String(n).padStart(width, fill);
}

function dayOfYear(t: BrokenDownTime): number {
  const start = Date.UTC(t.year, 0, 1);
  return Math.round((Date.UTC(t.year, t.month, t.day) - start) / 86_400_000);
}

/** ISO 8601 week-based year and week number. */
function isoWeek(t: BrokenDownTime): [year: number, week: number] {
  const date = new Date(Date.UTC(t.year, t.month, t.day));
  const weekday = (t.weekday + 6) % 7; // Monday 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week
  const year = date.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(year, 0, 4));
  const week = 1 +
    Math.round(
      ((date.getTime() - firstThursday.getTime()) / 86_400_000 -
        3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7,
    );
  return [year, week];
}

function offsetText(minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60), 2)}${pad(abs % 60, 2)}`;
}

/**
 * One strftime conversion (the character after `%`) in the C locale. Unknown conversions
 * are returned as written (`%` and the character), as glibc does.
 *
 * @example Year and ISO date
 * ```ts
 * import assert from "node:assert/strict";
 * import { breakDownTime, strftimeConversion } from "./_strftime.ts";
 * const t = breakDownTime(Date.UTC(2024, 1, 3, 4, 5, 6), true);
 * assert.equal(strftimeConversion("F", t), "2024-02-03");
 * assert.equal(strftimeConversion("T", t), "04:05:06");
 * ```
 *
 * @param c The conversion character.
 * @param t The time.
 * @returns The text.
 */
export function strftimeConversion(c: string, t: BrokenDownTime): string {
  const h12 = t.hour % 12 === 0 ? 12 : t.hour % 12;
  switch (c) {
    case "a":
      return DAYS[t.weekday]!.slice(0, 3);
    case "A":
      return DAYS[t.weekday]!;
    case "b":
    case "h":
      return MONTHS[t.month]!.slice(0, 3);
    case "B":
      return MONTHS[t.month]!;
    case "c":
      return `${strftimeConversion("a", t)} ${strftimeConversion("b", t)} ${pad(t.day, 2, " ")} ${
        strftimeConversion("T", t)
      } ${t.year}`;
    case "C":
      return pad(Math.floor(t.year / 100), 2);
    case "d":
      return pad(t.day, 2);
    case "D":
    case "x":
      return `${pad(t.month + 1, 2)}/${pad(t.day, 2)}/${pad(t.year % 100, 2)}`;
    case "e":
      return pad(t.day, 2, " ");
    case "F":
      return `${t.year}-${pad(t.month + 1, 2)}-${pad(t.day, 2)}`;
    case "g":
      return pad(isoWeek(t)[0] % 100, 2);
    case "G":
      return String(isoWeek(t)[0]);
    case "H":
      return pad(t.hour, 2);
    case "I":
      return pad(h12, 2);
    case "j":
      return pad(dayOfYear(t) + 1, 3);
    case "k":
      return pad(t.hour, 2, " ");
    case "l":
      return pad(h12, 2, " ");
    case "m":
      return pad(t.month + 1, 2);
    case "M":
      return pad(t.minute, 2);
    case "n":
      return "\n";
    case "p":
      return t.hour < 12 ? "AM" : "PM";
    case "P":
      return t.hour < 12 ? "am" : "pm";
    case "r":
      return `${pad(h12, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)} ${t.hour < 12 ? "AM" : "PM"}`;
    case "R":
      return `${pad(t.hour, 2)}:${pad(t.minute, 2)}`;
    case "s":
      return String(t.epoch);
    case "S":
      return pad(t.second, 2);
    case "t":
      return "\t";
    case "T":
    case "X":
      return `${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}`;
    case "u":
      return String(t.weekday === 0 ? 7 : t.weekday);
    case "U":
      return pad(Math.floor((dayOfYear(t) + 7 - t.weekday) / 7), 2);
    case "V":
      return pad(isoWeek(t)[1], 2);
    case "w":
      return String(t.weekday);
    case "W":
      return pad(Math.floor((dayOfYear(t) + 7 - ((t.weekday + 6) % 7)) / 7), 2);
    case "y":
      return pad(t.year % 100, 2);
    case "Y":
      return String(t.year);
    case "z":
      return offsetText(t.offset);
    case "Z":
      return t.zone;
    case "%":
      return "%";
    default:
      return `%${c}`;
  }
}
