import { z } from 'zod';
import { api, previewApi } from '@sightline/protocol';
import { defineRoute, type Route } from '../http/router.js';
import type { ProjectService } from './project.service.js';

const projectSrn = (ctx: { params: Readonly<Record<string, string>> }) => `srn:sightline::project/${ctx.params['name'] ?? ''}`;

export function projectRoutes(projects: ProjectService): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/projects',
      tag: 'projects',
      summary: 'Create a project (a tenant with its own keys and policies)',
      auth: 'authenticated',
      action: 'project:Create',
      resource: (ctx) => `srn:sightline::project/${ctx.body.name}`,
      body: api.createProjectRequest,
      response: api.projectView,
      status: 201,
      handle: (ctx) => projects.create(ctx.body.name, ctx.body.description),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/projects',
      tag: 'projects',
      summary: 'List projects',
      auth: 'authenticated',
      action: 'project:List',
      resource: () => 'srn:sightline::project/*',
      response: z.object({ projects: z.array(api.projectView) }),
      handle: async () => ({ projects: await projects.list() }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/projects/:name',
      tag: 'projects',
      summary: 'Show a project',
      auth: 'authenticated',
      action: 'project:Get',
      resource: projectSrn,
      response: api.projectView,
      handle: (ctx) => projects.get(ctx.params['name'] ?? ''),
    }),
    defineRoute({
      method: 'PUT',
      path: '/api/v1/projects/:name/settings',
      tag: 'projects',
      summary:
        "Change a project's settings: outputPreview lets principals with device:ViewOutput preview app outputs in the console (off by default)",
      auth: 'authenticated',
      action: 'project:UpdateSettings',
      resource: projectSrn,
      body: previewApi.updateProjectSettingsRequest,
      response: api.projectView,
      handle: (ctx) => projects.updateSettings(ctx.params['name'] ?? '', ctx.body),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/projects/:name',
      tag: 'projects',
      summary: 'Delete a project',
      auth: 'authenticated',
      action: 'project:Delete',
      resource: projectSrn,
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await projects.delete(ctx.params['name'] ?? '');
        return { ok: true as const };
      },
    }),
  ];
}
