console.log("pid", Deno.pid, new Date().toISOString());
